/** mapek's own metrics (prefix `mapek_`): the loop watches itself (principle 7). */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Sources of the gauges that are read at scrape time. */
export interface GaugeSources {
  counts?: () => Promise<{ incidentsOpen: number; plans: Array<{ machine: string; state: string; n: number }>; oldestOpen: Array<{ playbook: string; createdAt: string }> }>;
  queueDepths?: () => Promise<Array<{ queue: string; state: string; n: number }>>;
}

/** Every metric the loop exports, on a registry of its own. */
export class LoopMetrics {
  readonly registry = new Registry();
  readonly webhookRequests = new Counter({ name: 'mapek_webhook_requests_total', help: 'Alertmanager webhook requests by HTTP status code', labelNames: ['code'], registers: [this.registry] });
  readonly webhookTruncatedAlerts = new Counter({ name: 'mapek_webhook_truncated_alerts_total', help: 'Alerts Alertmanager left out of notifications (truncatedAlerts)', registers: [this.registry] });
  readonly observations = new Counter({ name: 'mapek_observations_total', help: 'Observations committed to knowledge, by source', labelNames: ['source'], registers: [this.registry] });
  readonly observationsDeduplicated = new Counter({ name: 'mapek_observations_deduplicated_total', help: 'Observations already known (re-sends, retries, HA pairs)', labelNames: ['source'], registers: [this.registry] });
  readonly findings = new Counter({ name: 'mapek_findings_total', help: 'Findings by kind and severity', labelNames: ['kind', 'severity'], registers: [this.registry] });
  readonly incidentsOpened = new Counter({ name: 'mapek_incidents_opened_total', help: 'Incidents opened, by playbook', labelNames: ['playbook'], registers: [this.registry] });
  readonly actions = new Counter({ name: 'mapek_actions_total', help: 'Actions finished, by type and outcome', labelNames: ['type', 'outcome'], registers: [this.registry] });
  readonly actionAttempts = new Counter({ name: 'mapek_action_attempts_total', help: 'Actuator calls made, by type and result', labelNames: ['type', 'result'], registers: [this.registry] });
  readonly actionDuration = new Histogram({ name: 'mapek_action_duration_seconds', help: 'Duration of one actuator call', labelNames: ['type'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry] });
  readonly observationToAction = new Histogram({ name: 'mapek_observation_to_action_seconds', help: 'From the observation that opened an incident to its first remediation call answered', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers: [this.registry] });
  readonly incidentTimeToClose = new Histogram({ name: 'mapek_incident_time_to_close_seconds', help: 'From an incident opening to its first resolved or escalated state (the SLI of the incident SLO)', labelNames: ['playbook', 'outcome'], buckets: [30, 60, 120, 300, 600, 900, 1800, 3600], registers: [this.registry] });
  readonly planSteps = new Counter({ name: 'mapek_plan_steps_total', help: 'Plan steps committed, by machine and resulting state', labelNames: ['machine', 'state'], registers: [this.registry] });
  readonly sensorQueryDuration = new Histogram({ name: 'mapek_sensor_query_duration_seconds', help: 'PromQL query duration', labelNames: ['sensor'], registers: [this.registry] });
  readonly sensorErrors = new Counter({ name: 'mapek_sensor_errors_total', help: 'PromQL query errors by sensor and reason', labelNames: ['sensor', 'reason'], registers: [this.registry] });
  readonly knowledgeWrites = new Counter({ name: 'mapek_knowledge_writes_total', help: 'Write transactions committed to knowledge (group commit: many share one COMMIT)', registers: [this.registry] });
  readonly knowledgeCommits = new Counter({ name: 'mapek_knowledge_commits_total', help: 'COMMITs of knowledge write batches; writes / commits is the group-commit factor', registers: [this.registry] });
  readonly paused = new Gauge({ name: 'mapek_paused', help: '1 while the loop is paused', registers: [this.registry] });
  readonly brakeEngaged = new Gauge({ name: 'mapek_brake_engaged', help: '1 while the safety brake is engaged', registers: [this.registry] });
  readonly budgetRemaining = new Gauge({ name: 'mapek_budget_remaining', help: 'Remaining action budget by action type', labelNames: ['action_type'], registers: [this.registry] });

  constructor(sources: GaugeSources = {}) {
    const { counts, queueDepths } = sources;
    new Gauge({
      name: 'mapek_incidents_open',
      help: 'Incidents not yet resolved or escalated',
      registers: [this.registry],
      async collect() {
        if (!counts) return;
        try {
          this.set((await counts()).incidentsOpen);
        } catch {
          // A scrape must not fail because knowledge is slow; the value stays as last read.
        }
      },
    });
    new Gauge({
      name: 'mapek_plans',
      help: 'Plans by machine and state',
      labelNames: ['machine', 'state'],
      registers: [this.registry],
      async collect() {
        if (!counts) return;
        try {
          this.reset();
          for (const r of (await counts()).plans) this.set({ machine: r.machine, state: r.state }, r.n);
        } catch {
          /* as above */
        }
      },
    });
    new Gauge({
      name: 'mapek_queue_depth',
      help: 'Jobs in each queue by state',
      labelNames: ['queue', 'state'],
      registers: [this.registry],
      async collect() {
        if (!queueDepths) return;
        try {
          for (const r of await queueDepths()) this.set({ queue: r.queue, state: r.state }, r.n);
        } catch {
          /* Redis down: keep the last values */
        }
      },
    });
    new Gauge({
      name: 'mapek_incident_oldest_open_seconds',
      help: 'Age of the oldest incident not yet resolved or escalated, by playbook (0 when none)',
      labelNames: ['playbook'],
      registers: [this.registry],
      async collect() {
        if (!counts) return;
        try {
          const now = Date.now();
          this.reset();
          this.set({ playbook: 'critical-violation' }, 0);
          for (const r of (await counts()).oldestOpen) this.set({ playbook: r.playbook }, Math.max(0, (now - Date.parse(r.createdAt)) / 1000));
        } catch {
          /* as above */
        }
      },
    });
    // Series exist from the start, so the first late incident or 503 after a restart is counted.
    for (const outcome of ['resolved', 'escalated']) this.incidentTimeToClose.zero({ playbook: 'critical-violation', outcome });
    for (const code of ['202', '400', '401', '413', '415', '503']) this.webhookRequests.inc({ code }, 0);
    this.paused.set(0);
    this.brakeEngaged.set(0);
  }
}

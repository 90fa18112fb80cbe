/** The inspection page at `/`: incidents with state, age and subject (a fuller UI grows here). */
import type { IncidentSummary } from '../knowledge/store.ts';

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Renders the incident list as a self-contained HTML page. */
export function renderIndexPage(incidents: IncidentSummary[], now = Date.now()): string {
  const rows = incidents
    .map((i) => {
      const age = Math.round((now - Date.parse(i.createdAt)) / 1000);
      const subject = Object.entries(i.labels)
        .filter(([k]) => k !== 'alertname')
        .map(([k, v]) => `${k}=${v}`)
        .join(', ');
      return `<tr><td><a href="/api/incidents/${esc(i.id)}">${esc(i.id)}</a></td><td>${esc(i.labels.alertname ?? '')}</td><td>${esc(subject)}</td><td class="s-${esc(i.state)}">${esc(i.state)}</td><td>${age}s</td></tr>`;
    })
    .join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>mapek</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}td,th{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}.s-resolved{color:#070}.s-escalated{color:#b00}</style>
</head><body><h1>mapek — incidents</h1>
<table><thead><tr><th>id</th><th>alert</th><th>subject</th><th>state</th><th>age</th></tr></thead><tbody>
${rows || '<tr><td colspan="5">no incidents yet</td></tr>'}
</tbody></table></body></html>`;
}

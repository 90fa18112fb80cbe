/** Budgets: which ones an action spends from, and what they count. Pure, shared by the loop and policy tests. */

/** One budget of the pack: at most `max` effects per `per`, of one action type or of every Charter call, overall or per subject. */
export interface Budget {
  /** The action type counted; without it, every call mapek makes to the Charter. */
  actionType?: string;
  /** Count per subject (one node cannot take the whole budget) instead of overall. */
  perSubject?: boolean;
  max: number;
  per: string;
}

/** The budgets an action of this type spends from (read-only actions spend none). */
export function budgetsFor(budgets: readonly Budget[], type: string, readOnly: boolean): Budget[] {
  if (readOnly) return [];
  return budgets.filter((b) => (b.actionType === undefined ? type.startsWith('charter.') : b.actionType === type));
}

/** A budget's name, for metrics and messages: `charter.quarantine`, `charter.* per subject`. */
export function budgetName(b: Budget): string {
  return `${b.actionType ?? 'charter.*'}${b.perSubject ? ' per subject' : ''}`;
}

/** True when an earlier action of `type` counts against budget `b` (subject match checked by the caller). */
export function countsAgainst(b: Budget, type: string): boolean {
  return b.actionType === undefined ? type.startsWith('charter.') : b.actionType === type;
}

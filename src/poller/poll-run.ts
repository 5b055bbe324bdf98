import type { PollRun } from '../store/store.js';

/** A poll-run record as it starts: nothing counted yet. */
export function startedPollRun(kind: PollRun['kind'], startedAt: number, overBudget = false, note = ''): Omit<PollRun, 'id'> {
  return {
    kind,
    startedAt,
    endedAt: null,
    usersPolled: 0,
    requests: 0,
    errors: 0,
    disagreements: 0,
    confirmations: 0,
    corrections: 0,
    overBudget,
    note,
  };
}

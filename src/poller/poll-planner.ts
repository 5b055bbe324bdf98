import type { Store } from '../store/store.js';

export interface PollPlannerOptions {
  intervalSeconds: number;
  coverageSeconds: number;
  requestsPerSecond: number;
  batchSize: number;
  excludeUsers: readonly string[];
}

export interface PollPlan {
  /** Users to poll this cycle: every believed-online user first, then a rotating slice of the others. */
  userIDs: string[];
  onlineCount: number;
  sliceCount: number;
  /** Requests this plan needs. */
  requests: number;
  /** Requests the budget allows for one interval. */
  budget: number;
  /** True when the plan needed more requests than the budget (the slice was cut; online users never are). */
  overBudget: boolean;
  /** Tracked users the full rotation would have wanted this cycle but the budget cut. */
  cut: number;
}

/**
 * Chooses whom to poll: all believed-online users (to catch missed offlines) plus a rotating slice of the other
 * tracked users sized so the whole set is covered within `coverageSeconds`, under a request budget.
 * The rotation walks the tracked-users table in userID order with a cursor, so no list of all users is kept in memory.
 */
export class PollPlanner {
  private cursor = '';
  private readonly excluded: Set<string>;

  constructor(
    private readonly store: Store,
    private readonly opts: PollPlannerOptions,
  ) {
    this.excluded = new Set(opts.excludeUsers);
  }

  plan(onlineUsers: Iterable<string>): PollPlan {
    const chosen = new Set<string>();
    for (const u of onlineUsers) if (!this.excluded.has(u)) chosen.add(u);
    const onlineCount = chosen.size;
    const tracked = this.store.countTrackedUsers();
    const cycles = Math.max(1, Math.floor(this.opts.coverageSeconds / this.opts.intervalSeconds));
    const wanted = Math.min(tracked, Math.ceil(tracked / cycles));
    const budget = Math.max(1, Math.floor(this.opts.requestsPerSecond * this.opts.intervalSeconds));
    const budgetUsers = budget * this.opts.batchSize;
    const sliceTarget = Math.max(0, Math.min(wanted, budgetUsers - onlineCount));
    let sliceCount = 0;
    let visited = 0;
    // Walk forward from the cursor, wrapping once, skipping users already chosen.
    while (sliceCount < sliceTarget && visited < tracked) {
      const page = this.store.trackedUsersAfter(this.cursor, Math.min(10_000, sliceTarget - sliceCount + 1000));
      if (page.length === 0) {
        if (this.cursor === '') break;
        this.cursor = '';
        continue;
      }
      for (const u of page) {
        visited++;
        this.cursor = u;
        if (chosen.has(u) || this.excluded.has(u)) continue;
        chosen.add(u);
        sliceCount++;
        if (sliceCount >= sliceTarget || visited >= tracked) break;
      }
    }
    const userIDs = [...chosen];
    const requests = Math.ceil(userIDs.length / this.opts.batchSize);
    const cut = Math.max(0, wanted - sliceTarget);
    return { userIDs, onlineCount, sliceCount, requests, budget, overBudget: requests > budget || cut > 0, cut };
  }
}

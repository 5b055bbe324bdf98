import type { TrackedUsers } from '../store/store.js';
import { UserFilter, hashUserID } from '../engine/user-filter.js';
import { pagesOf } from './page-pump.js';

export interface PollPlannerOptions {
  intervalSeconds: number;
  coverageSeconds: number;
  requestsPerSecond: number;
  batchSize: number;
  excludeUsers: readonly string[];
}

export interface PollPlan {
  /**
   * Users to poll this cycle, in pages of `batchSize` (one status request each): every believed-online user first,
   * then a rotating slice of the others. Produced as it is consumed (the slice is read from the store a few thousand
   * rows at a time), so a sweep never holds the list of all users; iterating it advances the rotation, so it is
   * meant to be iterated once.
   */
  pages: Iterable<string[]>;
  onlineCount: number;
  /** Users the rotating slice takes this cycle (fewer only when fewer tracked users are left to take). */
  sliceTarget: number;
  /** Requests this plan needs at most. */
  requests: number;
  /** Requests the budget allows for one interval. */
  budget: number;
  /** True when the plan needed more requests than the budget (the slice was cut; online users never are). */
  overBudget: boolean;
  /** Tracked users the full rotation would have wanted this cycle but the budget cut. */
  cut: number;
}

/** Rows read from the store per step of the rotation walk (one short synchronous read each). */
const WALK_PAGE = 2000;

/**
 * Chooses whom to poll: all believed-online users (to catch missed offlines) plus a rotating slice of the other
 * tracked users sized so the whole set is covered within `coverageSeconds`, under a request budget.
 * The rotation walks the tracked-users table in userID order with a cursor, so no list of all users is kept in memory.
 */
export class PollPlanner {
  private cursor = '';
  private readonly excluded: Set<string>;
  private readonly excludedFilter: UserFilter;

  constructor(
    private readonly store: Pick<TrackedUsers, 'countTrackedUsers' | 'trackedUsersAfter'>,
    private readonly opts: PollPlannerOptions,
  ) {
    this.excluded = new Set(opts.excludeUsers);
    this.excludedFilter = UserFilter.of(this.excluded, this.excluded.size);
  }

  /** `onlineUsers`: the believed-online users, each once (the engine's view). */
  plan(onlineUsers: Iterable<string>): PollPlan {
    // Only references are copied here; the set the rotation needs to skip them is built as they are handed out.
    const online: string[] = [];
    for (const u of onlineUsers) if (!this.isExcluded(u)) online.push(u);
    const onlineCount = online.length;
    const tracked = this.store.countTrackedUsers();
    const cycles = Math.max(1, Math.floor(this.opts.coverageSeconds / this.opts.intervalSeconds));
    const wanted = Math.min(tracked, Math.ceil(tracked / cycles));
    const budget = Math.max(1, Math.floor(this.opts.requestsPerSecond * this.opts.intervalSeconds));
    const budgetUsers = budget * this.opts.batchSize;
    const sliceTarget = Math.max(0, Math.min(wanted, budgetUsers - onlineCount));
    const requests = Math.ceil((onlineCount + sliceTarget) / this.opts.batchSize);
    const cut = Math.max(0, wanted - sliceTarget);
    const pages = this.pages(online, sliceTarget, tracked);
    return { pages, onlineCount, sliceTarget, requests, budget, overBudget: requests > budget || cut > 0, cut };
  }

  private isExcluded(userID: string): boolean {
    return this.excludedFilter.mayHave(userID) && this.excluded.has(userID);
  }

  /** The users to poll cut into pages of `batchSize`, produced as they are consumed. */
  private pages(online: readonly string[], sliceTarget: number, tracked: number): Iterable<string[]> {
    return pagesOf(this.usersToPoll(online, sliceTarget, tracked), this.opts.batchSize);
  }

  /**
   * The online users (each once), then the slice. The online users are remembered as they are handed out, so the
   * rotation, which starts after the last of them, skips them.
   */
  private *usersToPoll(online: readonly string[], sliceTarget: number, tracked: number): Generator<string, void, undefined> {
    const chosen = new Set<string>();
    const chosenFilter = new UserFilter(online.length);
    for (const u of online) {
      if (chosen.has(u)) continue;
      chosen.add(u);
      chosenFilter.add(u);
      yield u;
    }
    for (const taken of this.walk(chosen, chosenFilter, sliceTarget, tracked)) yield* taken;
  }

  /**
   * Walks forward from the cursor, wrapping once, skipping users already chosen, until `target` users are taken or
   * every tracked user was visited; yields the users taken from each page of rows read. Stops at the starting point
   * after wrapping even if users were added meanwhile, so no user is taken twice.
   */
  private *walk(chosen: ReadonlySet<string>, chosenFilter: UserFilter, target: number, tracked: number): Generator<string[], void, undefined> {
    const start = this.cursor;
    let taken = 0;
    let visited = 0;
    let wrapped = false;
    while (taken < target && visited < tracked) {
      const rows = this.store.trackedUsersAfter(this.cursor, Math.min(WALK_PAGE, target - taken + 1000));
      if (rows.length === 0) {
        if (this.cursor === '' || wrapped) return;
        this.cursor = '';
        wrapped = true;
        continue;
      }
      const out: string[] = [];
      let done = false;
      for (const u of rows) {
        if (wrapped && u > start) {
          done = true;
          break;
        }
        visited++;
        this.cursor = u;
        // Most tracked users are in neither set: the filters say so without a lookup in the (large) online set.
        const h = hashUserID(u);
        if ((chosenFilter.mayHaveHash(h) && chosen.has(u)) || (this.excludedFilter.mayHaveHash(h) && this.excluded.has(u))) continue;
        out.push(u);
        taken++;
        if (taken >= target || visited >= tracked) {
          done = true;
          break;
        }
      }
      if (out.length > 0) yield out;
      if (done) return;
    }
  }
}

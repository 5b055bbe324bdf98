/**
 * The routes the daemon reads presence and users from (docs/openim-contract.md, the status API): the live view
 * `get_users_online_status`, the Redis view `get_users_status` and the user list `get_all_users_uid`. Users are asked
 * about once each, in batches of `batchSize` with at most `concurrency` requests in flight across all calls, and every
 * answer is checked against what was asked before it is believed.
 */
import pLimit from 'p-limit';
import { MissingUsersError, OpenImApiError } from '../errors.js';
import {
  OPENIM_ERR,
  OPENIM_ROUTES,
  allUsersUidDataSchema,
  parseOnlineStatusData,
  parseWith,
  usersStatusDataSchema,
} from './api-schemas.js';
import type { AdminTokenCache } from './admin-token-cache.js';
import type { OpenImClientOptions } from './openim-client.js';
import { asError, reclassifiedApiError, unexpectedAnswerError } from './openim-transport.js';
import type { AttemptCounter, OpenImTransport } from './openim-transport.js';
import type { FailedBatch, OnlineStatusResult, OpenImApi, StatusForm, UserOnlineStatus, UserRedisStatus } from './types.js';

export type StatusRoutesOptions = Pick<OpenImClientOptions, 'adminUserID' | 'batchSize' | 'concurrency' | 'pageSize'>;

export type StatusRoutes = Pick<OpenImApi, 'getUsersOnlineStatus' | 'getUsersStatus' | 'allUserIDs'>;

const DEFAULT_PAGE_SIZE = 1000;

type BatchOutcome =
  { ok: true; statuses: UserOnlineStatus[]; form: StatusForm | undefined } | { ok: false; error: Error };

function uniqueInOrder(userIDs: readonly string[]): string[] {
  return [...new Set(userIDs)];
}

function splitIntoBatches<T>(items: T[], size: number): T[][] {
  if (items.length <= size) return [items];
  const batches: T[][] = [];
  for (let i = 0; i < items.length; i += size) batches.push(items.slice(i, i + size));
  return batches;
}

/**
 * The `answered` statuses of the users of `batch`, in request order. Throws MissingUsersError naming every user of
 * the batch the answer left out: a missing user is never taken for an offline one. Extra and repeated entries are
 * ignored (the first entry of a user counts).
 */
export function statusesInRequestOrder(
  route: string,
  batch: readonly string[],
  answered: UserOnlineStatus[],
): UserOnlineStatus[] {
  // Usual case: one entry per requested user, in request order.
  let inOrder = answered.length === batch.length;
  for (let i = 0; inOrder && i < batch.length; i++) inOrder = answered[i]!.userID === batch[i];
  if (inOrder) return answered;
  const byUser = new Map<string, UserOnlineStatus>();
  for (const status of answered) if (!byUser.has(status.userID)) byUser.set(status.userID, status);
  const statuses: UserOnlineStatus[] = [];
  const missing: string[] = [];
  for (const userID of batch) {
    const status = byUser.get(userID);
    if (status === undefined) missing.push(userID);
    else statuses.push(status);
  }
  if (missing.length > 0) throw new MissingUsersError(route, missing);
  return statuses;
}

export function createStatusRoutes(
  transport: Pick<OpenImTransport, 'assertOpen'>,
  tokens: Pick<AdminTokenCache, 'current' | 'postWithToken'>,
  options: StatusRoutesOptions,
): StatusRoutes {
  const { adminUserID, batchSize } = options;
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const limitConcurrency = pLimit(options.concurrency);

  async function askOnlineStatusOfBatch(batch: string[], attempts: AttemptCounter): Promise<BatchOutcome> {
    const route = OPENIM_ROUTES.getUsersOnlineStatus;
    try {
      const data = await tokens.postWithToken(route, { userIDs: batch }, attempts);
      const parsed = parseOnlineStatusData(data);
      if (!parsed.ok) throw unexpectedAnswerError(route, parsed.error);
      return { ok: true, statuses: statusesInRequestOrder(route, batch, parsed.value.statuses), form: parsed.value.form };
    } catch (error) {
      if (
        error instanceof OpenImApiError &&
        error.code === 'OPR_ERR_OPENIM_API' &&
        error.errCode === OPENIM_ERR.noPermission
      ) {
        return {
          ok: false,
          error: reclassifiedApiError(
            error,
            'OPR_ERR_OPENIM_PERMISSION',
            `OpenIM ${route} answered errCode 1002 (no permission): the token is not an admin token; check openim.adminUserID ${JSON.stringify(adminUserID)} is listed in share.yml imAdminUserID`,
          ),
        };
      }
      return { ok: false, error: asError(error) };
    }
  }

  async function getUsersOnlineStatus(userIDs: readonly string[]): Promise<OnlineStatusResult> {
    transport.assertOpen(OPENIM_ROUTES.getUsersOnlineStatus);
    const unique = uniqueInOrder(userIDs);
    if (unique.length === 0) return { statuses: [], failed: [], form: undefined, requests: 0 };
    const batches = splitIntoBatches(unique, batchSize);
    try {
      // One token for the whole call: a refused token fails every batch once, not once per batch.
      await tokens.current();
    } catch (error) {
      const failed: FailedBatch[] = batches.map((batch) => ({ userIDs: batch, error: asError(error) }));
      return { statuses: [], failed, form: undefined, requests: 0 };
    }
    const attempts: AttemptCounter = { count: 0 };
    const outcomes = await Promise.all(
      batches.map((batch) => limitConcurrency(askOnlineStatusOfBatch, batch, attempts)),
    );
    // One batch (a poll cycle asks a page at a time): its answer is the result, no copy.
    const onlyOutcome = outcomes.length === 1 ? outcomes[0]! : undefined;
    if (onlyOutcome?.ok === true) {
      return { statuses: onlyOutcome.statuses, failed: [], form: onlyOutcome.form, requests: attempts.count };
    }
    const statuses: UserOnlineStatus[] = [];
    const failed: FailedBatch[] = [];
    let form: StatusForm | undefined;
    outcomes.forEach((outcome, i) => {
      if (outcome.ok) {
        for (const status of outcome.statuses) statuses.push(status);
        form ??= outcome.form;
      } else {
        failed.push({ userIDs: batches[i]!, error: outcome.error });
      }
    });
    return { statuses, failed, form, requests: attempts.count };
  }

  async function askUsersStatusOfBatch(batch: string[]): Promise<UserRedisStatus[]> {
    const route = OPENIM_ROUTES.getUsersStatus;
    const data = await tokens.postWithToken(route, { userID: adminUserID, userIDs: batch });
    const parsed = parseWith(usersStatusDataSchema, data ?? {});
    if (!parsed.ok) throw unexpectedAnswerError(route, parsed.error);
    return (parsed.value.statusList ?? []).map((entry) => ({
      userID: entry.userID,
      online: entry.status === 1 || entry.status === 'online',
      platformIDs: [...new Set(entry.platformIDs ?? [])].sort((a, b) => a - b),
    }));
  }

  async function getUsersStatus(userIDs: readonly string[]): Promise<UserRedisStatus[]> {
    transport.assertOpen(OPENIM_ROUTES.getUsersStatus);
    const unique = uniqueInOrder(userIDs);
    if (unique.length === 0) return [];
    const parts = await Promise.all(
      splitIntoBatches(unique, batchSize).map((batch) => limitConcurrency(askUsersStatusOfBatch, batch)),
    );
    return parts.flat();
  }

  async function* allUserIDs(): AsyncGenerator<string, void, undefined> {
    const route = OPENIM_ROUTES.getAllUsersUid;
    transport.assertOpen(route);
    const seen = new Set<string>();
    for (let pageNumber = 1; ; pageNumber++) {
      const data = await tokens.postWithToken(route, { pagination: { pageNumber, showNumber: pageSize } });
      const parsed = parseWith(allUsersUidDataSchema, data ?? {});
      if (!parsed.ok) throw unexpectedAnswerError(route, parsed.error);
      const pageUserIDs = parsed.value.userIDs;
      if (pageUserIDs === null || pageUserIDs === undefined || pageUserIDs.length === 0) return;
      let added = 0;
      for (const userID of pageUserIDs) {
        if (userID === '' || seen.has(userID)) continue;
        seen.add(userID);
        added += 1;
        yield userID;
      }
      const total = parsed.value.total;
      if (total !== undefined && pageNumber * pageSize >= total) return;
      // A page with nothing new means the server ignores paging; stop rather than loop forever.
      if (added === 0) return;
    }
  }

  return { getUsersOnlineStatus, getUsersStatus, allUserIDs };
}

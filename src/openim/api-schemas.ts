import { z } from 'zod';
import type { PlatformConnections, StatusForm, UserOnlineStatus } from './types.js';

/**
 * Shapes of OpenIM's status API (docs/openim-contract.md, the status API): the envelope every route answers with, each route's request body and
 * each route's `data`. Lists the protocol leaves empty come back as `null`, so every list here accepts `null`.
 *
 * The envelope and the small routes use zod. The entries of `get_users_online_status` (up to 100 000 per poll) are
 * checked by {@link parseOnlineStatusData}, a hand-written loop that costs far less than a schema walk and still says
 * exactly what was wrong.
 */

/** Routes of openim-api this project calls. */
export const OPENIM_ROUTES = {
  getAdminToken: '/auth/get_admin_token',
  getUsersOnlineStatus: '/user/get_users_online_status',
  getUsersStatus: '/user/get_users_status',
  getAllUsersUid: '/user/get_all_users_uid',
} as const;
export type OpenImRoute = (typeof OPENIM_ROUTES)[keyof typeof OPENIM_ROUTES];

/** errCodes meaning "this token is no good, fetch another" (TokenExpired … TokenNotExist). */
export const TOKEN_ERROR_CODES = [1501, 1502, 1503, 1504, 1505, 1506, 1507] as const;

export function isTokenErrorCode(errCode: number): boolean {
  return errCode >= 1501 && errCode <= 1507;
}

/** errCodes with a fixed meaning in the protocol (docs/openim-contract.md, error codes). */
export const OPENIM_ERR = {
  args: 1001,
  noPermission: 1002,
  recordNotFound: 1004,
  internal: 500,
} as const;

// ---------------------------------------------------------------------------------------------------------------
// Envelope

/** `{errCode, errMsg, errDlt, data}`; `data` is absent on errors and `null` for empty answers. Never read `errDlt`. */
export const envelopeSchema = z.looseObject({
  errCode: z.number().int(),
  errMsg: z.string().optional().default(''),
  errDlt: z.string().optional().default(''),
  data: z.unknown().optional(),
});
export type Envelope = z.infer<typeof envelopeSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Requests (the client builds these; the simulator validates them)

const pagination = z.strictObject({
  pageNumber: z.number().int().min(1),
  showNumber: z.number().int().min(1),
});

export const adminTokenRequestSchema = z.looseObject({ secret: z.string(), userID: z.string() });
export const onlineStatusRequestSchema = z.looseObject({ userIDs: z.array(z.string()) });
export const usersStatusRequestSchema = z.looseObject({ userID: z.string(), userIDs: z.array(z.string()) });
export const allUsersUidRequestSchema = z.looseObject({ pagination });

export type AdminTokenRequest = z.infer<typeof adminTokenRequestSchema>;
export type OnlineStatusRequest = z.infer<typeof onlineStatusRequestSchema>;
export type UsersStatusRequest = z.infer<typeof usersStatusRequestSchema>;
export type AllUsersUidRequest = z.infer<typeof allUsersUidRequestSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Route answers (`data`)

/** `/auth/get_admin_token`: `expireTimeSeconds` is a duration (90 days by default), not a timestamp. */
export const adminTokenDataSchema = z.looseObject({
  token: z.string().min(1, 'token must be a non-empty string'),
  expireTimeSeconds: z.number().optional(),
});
export type AdminTokenData = z.infer<typeof adminTokenDataSchema>;

/** `status` of the live view: 0/1 from v3.8.1 on, the strings of v3.8.0. */
export const onlineStatusValueSchema = z.union([z.literal(0), z.literal(1), z.literal('online'), z.literal('offline')]);

/** One entry of `/user/get_users_online_status`, for reference and for the simulator; the client uses the fast check. */
export const onlineStatusEntrySchema = z.looseObject({
  userID: z.string().min(1),
  status: onlineStatusValueSchema,
  detailPlatformStatus: z
    .array(
      z.looseObject({
        platformID: z.number().int().min(0),
        connID: z.string().optional(),
        isBackground: z.boolean().optional(),
        token: z.string().optional(),
      }),
    )
    .nullable()
    .optional(),
});
export const onlineStatusDataSchema = z.array(onlineStatusEntrySchema).nullable();
export type OnlineStatusEntry = z.infer<typeof onlineStatusEntrySchema>;

/** `/user/get_users_status`: the Redis view, one entry per user with its platforms (not connections). */
export const usersStatusDataSchema = z.looseObject({
  statusList: z
    .array(
      z.looseObject({
        userID: z.string().min(1),
        status: onlineStatusValueSchema,
        platformIDs: z.array(z.number().int()).nullable().optional(),
      }),
    )
    .nullable()
    .optional(),
});
export type UsersStatusData = z.infer<typeof usersStatusDataSchema>;

/** `/user/get_all_users_uid`: `userIDs` is `null` past the last page. */
export const allUsersUidDataSchema = z.looseObject({
  total: z.number().int().min(0).optional(),
  userIDs: z.array(z.string()).nullable().optional(),
});
export type AllUsersUidData = z.infer<typeof allUsersUidDataSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Error text

/** A short, JSON-ish rendering of a value for error messages (never more than ~60 characters). */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') {
    const s = JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    return s;
  }
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return typeof value;
}

function formatPath(root: string, path: readonly PropertyKey[]): string {
  let out = root;
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : `.${String(key)}`;
  return out;
}

/** `data.statusList[0].userID: Invalid input: expected string, received number` (at most three issues). */
export function describeZodError(error: z.ZodError, root = 'data'): string {
  const parts = error.issues.slice(0, 3).map((issue) => `${formatPath(root, issue.path)}: ${issue.message}`);
  if (error.issues.length > 3) parts.push(`and ${error.issues.length - 3} more`);
  return parts.join('; ');
}

/** Parses `value` with `schema`, returning the data or a message naming every (first three) problem under `root`. */
export function parseWith<T>(
  schema: z.ZodType<T>,
  value: unknown,
  root = 'data',
): { ok: true; value: T } | { ok: false; error: string } {
  const result = schema.safeParse(value);
  return result.success ? { ok: true, value: result.data } : { ok: false, error: describeZodError(result.error, root) };
}

// ---------------------------------------------------------------------------------------------------------------
// The fast path: entries of get_users_online_status

export interface ParsedOnlineStatus {
  /** One per entry, in answer order. Offline users have no platforms; connections are counted per platform. */
  statuses: UserOnlineStatus[];
  /** The `status` form of the first entry; undefined when the answer had no entries. */
  form: StatusForm | undefined;
}

/** The platforms of every user with none: shared and frozen, so no offline user costs an allocation. */
const EMPTY: readonly never[] = Object.freeze([]);

function countPlatforms(details: unknown[], index: number): readonly PlatformConnections[] | string {
  const n = details.length;
  if (n === 0) return EMPTY;
  if (n === 1) {
    const only = details[0] as { platformID?: unknown } | null;
    const platformID = typeof only === 'object' && only !== null ? only.platformID : undefined;
    if (!Number.isInteger(platformID) || (platformID as number) < 0) {
      return badPlatform(index, 0, only, platformID);
    }
    return [{ platformID: platformID as number, connections: 1 }];
  }
  const counts = new Map<number, number>();
  for (let j = 0; j < n; j++) {
    const detail = details[j] as { platformID?: unknown } | null;
    const platformID = typeof detail === 'object' && detail !== null ? detail.platformID : undefined;
    if (!Number.isInteger(platformID) || (platformID as number) < 0) {
      return badPlatform(index, j, detail, platformID);
    }
    counts.set(platformID as number, (counts.get(platformID as number) ?? 0) + 1);
  }
  const out: PlatformConnections[] = [];
  for (const [platformID, connections] of counts) out.push({ platformID, connections });
  if (out.length > 1) out.sort((a, b) => a.platformID - b.platformID);
  return out;
}

function badPlatform(index: number, j: number, detail: unknown, platformID: unknown): string {
  if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
    return `data[${index}].detailPlatformStatus[${j}]: expected an object, got ${describeValue(detail)}`;
  }
  return `data[${index}].detailPlatformStatus[${j}].platformID: expected a non-negative integer, got ${describeValue(platformID)}`;
}

/**
 * Checks and converts the `data` of `/user/get_users_online_status`. Accepts `status` as 0/1 or "online"/"offline"
 * and `detailPlatformStatus` as `null`, `[]` or absent. Per-connection details become per-platform connection counts,
 * sorted by platformID; the connection tokens in the details are dropped here and never kept. `data: null` (what an
 * empty request gets) is an empty answer. Returns the first problem found, naming its place, e.g.
 * `data[3].status: expected 0, 1, "online" or "offline", got "x"`.
 */
export function parseOnlineStatusData(
  data: unknown,
): { ok: true; value: ParsedOnlineStatus } | { ok: false; error: string } {
  if (data === null || data === undefined) return { ok: true, value: { statuses: [], form: undefined } };
  if (!Array.isArray(data)) return { ok: false, error: `data: expected an array or null, got ${describeValue(data)}` };
  const n = data.length;
  const statuses = new Array<UserOnlineStatus>(n);
  let form: StatusForm | undefined;
  for (let i = 0; i < n; i++) {
    const entry = data[i] as { userID?: unknown; status?: unknown; detailPlatformStatus?: unknown } | null;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      return { ok: false, error: `data[${i}]: expected an object, got ${describeValue(entry)}` };
    }
    const userID = entry.userID;
    if (typeof userID !== 'string' || userID === '') {
      return { ok: false, error: `data[${i}].userID: expected a non-empty string, got ${describeValue(userID)}` };
    }
    const status = entry.status;
    let online: boolean;
    if (status === 1) online = true;
    else if (status === 0) online = false;
    else if (status === 'online') online = true;
    else if (status === 'offline') online = false;
    else {
      return {
        ok: false,
        error: `data[${i}].status: expected 0, 1, "online" or "offline", got ${describeValue(status)}`,
      };
    }
    form ??= typeof status === 'number' ? 'numeric' : 'string';
    const details = entry.detailPlatformStatus;
    let platforms: readonly PlatformConnections[] = EMPTY;
    if (details !== null && details !== undefined) {
      if (!Array.isArray(details)) {
        return {
          ok: false,
          error: `data[${i}].detailPlatformStatus: expected an array or null, got ${describeValue(details)}`,
        };
      }
      const counted = countPlatforms(details, i);
      if (typeof counted === 'string') return { ok: false, error: counted };
      // An offline user has no platforms, whatever details a server might still list.
      if (online) platforms = counted;
    }
    statuses[i] = { userID, online, platforms };
  }
  return { ok: true, value: { statuses, form } };
}

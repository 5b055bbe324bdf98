/**
 * The narrow interface the daemon needs from OpenIM's API (docs/openim-contract.md, the status API). The axios client implements it;
 * tests and the poller depend on this type only.
 */
export interface PlatformConnections {
  platformID: number;
  /** Number of connections on this platform (the live view has one detail entry per connection). */
  connections: number;
}

export interface UserOnlineStatus {
  userID: string;
  online: boolean;
  /** Empty when offline (one shared frozen array: a sweep of mostly offline users allocates none). Sorted by platformID. */
  platforms: readonly PlatformConnections[];
}

export type StatusForm = 'numeric' | 'string';

export interface FailedBatch {
  userIDs: string[];
  error: Error;
}

export interface OnlineStatusResult {
  /** Statuses of the users whose batch succeeded, in request order. */
  statuses: UserOnlineStatus[];
  /** Batches that failed (network, HTTP, errCode, wrong shape, missing user): no decision may be made for them. */
  failed: FailedBatch[];
  /** Which `status` form the server used ("string" is v3.8.0); undefined if no batch succeeded or all were empty. */
  form: StatusForm | undefined;
  /** HTTP requests made (including retries). */
  requests: number;
}

export interface UserRedisStatus {
  userID: string;
  online: boolean;
  platformIDs: number[];
}

export interface ProbeResult {
  reachable: boolean;
  tokenObtained: boolean;
  adminConfirmed: boolean;
  statusForm: StatusForm | undefined;
  /** Human-readable problems, each saying what to fix. Empty when all checks pass. */
  problems: string[];
  latencyMs: number | undefined;
}

export interface OpenImApi {
  getUsersOnlineStatus(userIDs: readonly string[]): Promise<OnlineStatusResult>;
  getUsersStatus(userIDs: readonly string[]): Promise<UserRedisStatus[]>;
  allUserIDs(): AsyncIterable<string>;
  probe(): Promise<ProbeResult>;
  close(): void;
}

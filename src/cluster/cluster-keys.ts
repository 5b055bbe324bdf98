/**
 * The Redis keys of one deployment (all under `store.redis.keyPrefix`). docs/architecture.md (the Redis backend)
 * describes what each holds:
 * - `cluster`: the id of the shared state, created once; a local copy of another id is rebuilt;
 * - `lease`, `fence`: the writer lease (`<fencing token>|<replica>|<api url>`, with a TTL) and its token counter;
 * - `head`, `last-commit`, `log`: the shared log (a stream whose entry `n` has the id `n-1`), its last `n`, and the
 *   commit id of that entry (to recognise a retried append);
 * - `inbox`, `inbox-cursor`: webhooks accepted by any replica, and the last one the writer consumed;
 * - `snapshot`, `snapshot:<gen>:<i>`: an image of a SQLite copy the log starts from (the writer's, every
 *   store.redis.snapshotEveryEntries entries; `migrate`'s has no generation: `snapshot:<i>`).
 */
export interface ClusterKeys {
  readonly cluster: string;
  readonly lease: string;
  readonly fence: string;
  readonly head: string;
  readonly lastCommit: string;
  readonly log: string;
  readonly inbox: string;
  readonly inboxCursor: string;
  readonly snapshot: string;
  /** Chunk `i` of the snapshot of generation `gen` (none: `migrate`'s). */
  snapshotChunk(i: number, gen?: string): string;
}

export function clusterKeys(prefix: string): ClusterKeys {
  return {
    cluster: `${prefix}cluster`,
    lease: `${prefix}lease`,
    fence: `${prefix}fence`,
    head: `${prefix}head`,
    lastCommit: `${prefix}last-commit`,
    log: `${prefix}log`,
    inbox: `${prefix}inbox`,
    inboxCursor: `${prefix}inbox-cursor`,
    snapshot: `${prefix}snapshot`,
    snapshotChunk: (i, gen) => (gen ? `${prefix}snapshot:${gen}:${i}` : `${prefix}snapshot:${i}`),
  };
}

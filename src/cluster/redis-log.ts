/**
 * The shared log in Redis: a stream whose entry `n` has the id `n-1`, appended to only by the lease holder through
 * one Lua script that checks the lease (fencing: a replica whose lease was taken over cannot append, however late its
 * command arrives), checks that the log is where the writer believes (compare-and-set on the head), appends, and
 * moves the webhook inbox's cursor, all at once. With `appendfsync always` Redis answers only once the AOF holds it.
 * A retried append whose first try went through is recognised by the commit id of the log's last entry.
 */
import type { Redis } from 'ioredis';
import type { ClusterKeys } from './cluster-keys.js';
import type { LogAppender, StoredEntry } from './replicated-store.js';

const APPEND_SCRIPT = `
local lease = redis.call('GET', KEYS[1])
if lease ~= ARGV[1] then return redis.error_reply('FENCED the writer lease is ' .. (lease or 'free')) end
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
local expected = tonumber(ARGV[2])
local count = (#ARGV - 3) / 2
local lastCommit = ARGV[#ARGV - 1]
-- A retry whose earlier try went through (its answer was lost): that try appended the first k entries of this batch
-- (the batch may have grown since), and the log's last commit is the k-th's. Only the rest is appended.
local done = 0
if head ~= expected then
  local k = head - expected
  if k < 1 or k > count or redis.call('GET', KEYS[3]) ~= ARGV[2 + 2 * k] then
    return redis.error_reply('CONFLICT the log is at ' .. head .. ', not ' .. expected)
  end
  done = k
end
for i = done, count - 1 do
  head = head + 1
  redis.call('XADD', KEYS[4], head .. '-1', 'c', ARGV[4 + 2 * i], 'd', ARGV[5 + 2 * i])
end
redis.call('SET', KEYS[2], head)
redis.call('SET', KEYS[3], lastCommit)
if ARGV[3] ~= '' then redis.call('SET', KEYS[5], ARGV[3]) end
return head
`;

type StreamReply = [id: string, fields: string[]][];

function toEntries(reply: StreamReply): StoredEntry[] {
  return reply.map(([id, fields]) => {
    const n = Number(id.slice(0, id.indexOf('-')));
    let c = '';
    let json = '';
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] === 'c') c = fields[i + 1]!;
      else if (fields[i] === 'd') json = fields[i + 1]!;
    }
    return { n, c, json };
  });
}

export class RedisLog implements LogAppender {
  constructor(
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
  ) {}

  async append(
    leaseValue: string,
    expectedHead: number,
    entries: readonly StoredEntry[],
    inboxCursor: string | undefined,
  ): Promise<number> {
    const args: (string | number)[] = [leaseValue, expectedHead, inboxCursor ?? ''];
    for (const e of entries) args.push(e.c, e.json);
    const k = this.keys;
    return Number(
      await this.redis.eval(APPEND_SCRIPT, 5, k.lease, k.head, k.lastCommit, k.log, k.inboxCursor, ...args),
    );
  }

  async head(): Promise<number> {
    return Number((await this.redis.get(this.keys.head)) ?? 0);
  }

  /** Entries after `afterN`, at most `count`, oldest first (without waiting). */
  async range(afterN: number, count: number): Promise<StoredEntry[]> {
    const reply = (await this.redis.xrange(this.keys.log, `(${afterN}-1`, '+', 'COUNT', count)) as StreamReply;
    return toEntries(reply);
  }

  /** Entry `n`, or undefined when the log does not hold it. */
  async entry(n: number): Promise<StoredEntry | undefined> {
    const reply = (await this.redis.xrange(this.keys.log, `${n}-1`, `${n}-1`)) as StreamReply;
    return toEntries(reply)[0];
  }

  /** Entries after `afterN`, waiting up to `blockMs` for one (on a connection of its own: it blocks). */
  async next(blocking: Redis, afterN: number, count: number, blockMs: number): Promise<StoredEntry[]> {
    const reply = await blocking.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', this.keys.log, `${afterN}-1`);
    return reply === null ? [] : toEntries(reply[0]![1]);
  }
}

import { z } from 'zod';
import { signingSecretProblem } from '../push/webhook-signature.js';

/**
 * The single source of configuration keys, types, defaults and documentation.
 * Every key carries `.describe()`; the README's config reference and `config/default.yaml` are
 * checked against this schema by the tests. Keys listed in SECRET_PATHS are redacted everywhere.
 */

const str = () => z.string();
/** Booleans are real YAML booleans; the loader converts `true`/`false` from environment variables. */
const bool = () => z.boolean();

const httpUrl = () =>
  str().refine(
    (v) => {
      try {
        const u = new URL(v);
        return u.protocol === 'http:' || u.protocol === 'https:';
      } catch {
        return false;
      }
    },
    { error: 'must be an absolute http:// or https:// URL, e.g. http://127.0.0.1:10002' },
  ).meta({ format: 'uri' });

const cidr = str().refine(
  (v) => {
    const [addr, bits, ...rest] = v.split('/');
    if (rest.length > 0 || addr === undefined) return false;
    const isV4 = /^\d{1,3}(\.\d{1,3}){3}$/.test(addr) && addr.split('.').every((o) => Number(o) <= 255);
    const isV6 = addr.includes(':') && /^[0-9a-fA-F:.]+$/.test(addr);
    if (!isV4 && !isV6) return false;
    if (bits === undefined) return true;
    const n = Number(bits);
    return Number.isInteger(n) && n >= 0 && n <= (isV4 ? 32 : 128);
  },
  { error: 'must be an IPv4 or IPv6 address with an optional /prefix, e.g. 10.0.0.0/8 or ::1/128' },
).meta({ format: 'cidr' });

const host = str().min(1).describe('Interface to listen on, e.g. 127.0.0.1, ::1 or 0.0.0.0');
const port = z.number().int().min(0).max(65535);

const openimSchema = z
  .strictObject({
    apiUrl: httpUrl().default('http://127.0.0.1:10002').describe('Base URL of openim-api (no trailing route).'),
    secret: str().min(1, 'must not be empty').optional().describe('OpenIM `share.yml` secret used for /auth/get_admin_token. Secret.'),
    secretFile: str().optional().describe('Path of a file holding openim.secret (alternative to secret).'),
    adminUserID: str().min(1).default('imAdmin').describe('An admin userID from `share.yml imAdminUserID`.'),
    operationIDPrefix: str().regex(/^[A-Za-z0-9_-]{1,32}$/, 'must be 1-32 characters of A-Z a-z 0-9 _ -').default('opr').describe('Prefix of the operationID header sent with every request.'),
    timeoutMs: z.number().int().min(100).max(300_000).default(5000).describe('Per-request timeout in milliseconds.'),
    retries: z.number().int().min(0).max(10).default(2).describe('Retries for network errors, timeouts and 5xx (the status routes only read).'),
    batchSize: z.number().int().min(1).max(5000).default(500).describe('userIDs per get_users_online_status request.'),
    concurrency: z.number().int().min(1).max(64).default(4).describe('Concurrent status requests.'),
  })
  .describe('How to reach OpenIM.');

const webhookSchema = z
  .strictObject({
    host: host.default('127.0.0.1'),
    port: port.default(10006).describe('Port of the webhook listener (may equal api.port to share one server).'),
    pathSecret: str().regex(/^[A-Za-z0-9._~-]{8,128}$/, 'must be 8-128 URL-safe characters (A-Z a-z 0-9 . _ ~ -)').optional().describe('Secret first path segment: OpenIM posts to /<pathSecret>/<command>. Secret.'),
    pathSecretFile: str().optional().describe('Path of a file holding webhook.pathSecret.'),
    publicUrl: httpUrl().optional().describe('Base URL at which OpenIM reaches this listener (for doctor and the webhooks.yml it prints).'),
    allowlist: z.array(cidr).default([]).describe('If non-empty, only these source addresses/CIDRs may post webhooks.'),
    bodyLimitBytes: z.number().int().min(256).max(10_485_760).default(65_536).describe('Largest accepted webhook body.'),
    queueLimit: z.number().int().min(1).max(1_000_000).default(10_000).describe('Webhooks waiting for commit before new ones get 503.'),
    commitMaxDelayMs: z.number().int().min(0).max(1000).default(0).describe('Longest a webhook waits for its group commit to start; 0 commits on the next turn of the event loop, batching whatever arrived meanwhile.'),
    commitMaxBatch: z.number().int().min(1).max(10_000).default(500).describe('Most webhooks in one commit transaction.'),
    maxConnections: z.number().int().min(1).max(1_000_000).default(1000).describe('Cap on open connections to the webhook listener. At the cap a new connection closes the oldest one with no request in flight (idle or still sending its request); when every one has a request in flight, the new one is answered 503 with Retry-After.'),
    headersTimeoutMs: z.number().int().min(100).max(600_000).default(5000).describe('A connection must send a complete request head within this long of opening (or of the first byte of its next request), or it is answered 408 and closed. OpenIM gives up on a webhook after 5 s (webhooks.yml timeout).'),
    bodyTimeoutMs: z.number().int().min(100).max(600_000).default(5000).describe('A request body must arrive whole within this long of its head; a body that stalls or trickles is answered 408 and the connection closed.'),
    keepAliveTimeoutMs: z.number().int().min(100).max(600_000).default(5000).describe('A kept-alive connection with no request in flight is closed after this long (clients are told so in Keep-Alive: timeout; node allows one second more).'),
    extraPlatforms: z.array(z.number().int().min(0).max(1_000_000)).max(100).default([]).describe("platformIDs accepted besides OpenIM's 1-11 (IOS … HarmonyOS), for a fork that adds platforms; a webhook with any other platformID is refused with 400."),
  })
  .describe('The listener OpenIM posts presence webhooks to.');

const apiSchema = z
  .strictObject({
    host: host.default('127.0.0.1'),
    port: port.default(10088).describe('Port of the /v1 API, dashboard, /metrics, /healthz and /readyz. Browsers and the CLI refuse the Fetch standard\'s blocked ports (10080 among them).'),
    tokens: z.array(str().min(16, 'API tokens must be at least 16 characters')).default([]).describe('Bearer tokens accepted by /v1 and the dashboard. Secret.'),
    tokensFile: str().optional().describe('Path of a file with one API token per line.'),
    requireAuth: z.enum(['auto', 'always', 'never']).default('auto').describe('auto: tokens required unless api.host is loopback.'),
    sseHeartbeatSeconds: z.number().min(1).max(300).default(15).describe('Seconds between SSE heartbeats (carry the head seq).'),
    maxSseConnections: z.number().int().min(1).max(100_000).default(1000).describe('Cap on concurrent SSE connections.'),
    sseMaxBufferedBytes: z.number().int().min(16_384).max(268_435_456).default(4_194_304).describe('A subscriber whose unsent bytes exceed this is disconnected.'),
    maxPageSize: z.number().int().min(1).max(100_000).default(1000).describe('Largest `limit` accepted by paged endpoints.'),
    maxWaitSeconds: z.number().int().min(0).max(300).default(60).describe('Longest long-poll `wait` accepted by GET /v1/events.'),
    maxConnections: z.number().int().min(1).max(1_000_000).default(2000).describe('Cap on open connections to the API server (SSE streams included). At the cap a new connection closes the oldest one with no request in flight; when every one has a request in flight, the new one is answered 503 with Retry-After, except /healthz and /readyz, which are answered.'),
    headersTimeoutMs: z.number().int().min(100).max(600_000).default(10_000).describe('A connection must send a complete request head within this long of opening (or of the first byte of its next request), or it is answered 408 and closed.'),
    bodyTimeoutMs: z.number().int().min(100).max(600_000).default(10_000).describe('A request body must arrive whole within this long of its head; a body that stalls or trickles is answered 408 and the connection closed. Answers are not limited: SSE streams and long polls stay open.'),
    keepAliveTimeoutMs: z.number().int().min(100).max(600_000).default(5000).describe('A kept-alive connection with no request in flight is closed after this long (clients are told so in Keep-Alive: timeout; node allows one second more).'),
  })
  .describe('The subscriber and operator API.');

const redisUrl = () =>
  str().refine(
    (v) => {
      try {
        const u = new URL(v);
        return (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '';
      } catch {
        return false;
      }
    },
    { error: 'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379/0' },
  ).meta({ format: 'uri' });

const redisSchema = z
  .strictObject({
    url: redisUrl().default('redis://127.0.0.1:6379/0').describe('Redis 7 server shared by every replica (redis:// or rediss:// for TLS; a database number as the path).'),
    password: str().min(1, 'must not be empty').optional().describe('Redis password (AUTH). Secret.'),
    passwordFile: str().optional().describe('Path of a file holding store.redis.password.'),
    keyPrefix: str().regex(/^[A-Za-z0-9:_.{}-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 : _ . { } -').default('opr:').describe('Prefix of every key the daemon uses: several deployments can share one Redis.'),
    connectTimeoutMs: z.number().int().min(100).max(60_000).default(5000).describe('Connecting to Redis gives up after this long (then retries).'),
    commandTimeoutMs: z.number().int().min(100).max(60_000).default(5000).describe('A Redis command without an answer this long fails (and is retried or answered 503).'),
    durability: z
      .enum(['always', 'everysec'])
      .default('always')
      .describe('What an acknowledged webhook needs from Redis: always = AOF with appendfsync always (nothing acknowledged is lost); everysec = up to a second at risk. Checked against the server at start; doctor and /readyz say when it is weaker.'),
    leaseTtlMs: z.number().int().min(500).max(120_000).default(10_000).describe('The writer lease: if its holder stops renewing it, another replica takes over after this long.'),
    snapshotEveryEntries: z
      .number()
      .int()
      .min(100)
      .max(100_000_000)
      .default(50_000)
      .describe('The writer stores an image of its copy in Redis every this many log entries (or once the log grew by as many bytes as the image, at least 64 MiB) and trims the log up to it: Redis holds one image and the entries since.'),
    replicaName: str().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 . _ -').optional().describe('This replica\'s name in logs, health and the lease (default: host name and process id).'),
  })
  .describe('The shared Redis store (store.backend: redis).');

const storeSchema = z
  .strictObject({
    backend: z
      .enum(['sqlite', 'redis'])
      .default('sqlite')
      .describe('sqlite: one node, its state in store.path. redis: several replicas share their state in Redis (store.redis); each keeps a local copy at store.path.'),
    path: str().min(1).default('./data/presence.db').describe('SQLite file (created with mode 0600). With store.backend redis: this replica\'s local copy of the shared state, rebuilt from Redis when needed.'),
    redis: redisSchema.default(redisSchema.parse({})),
    retentionDays: z.number().min(0.001).max(3650).default(7).describe('Days receipts, events, polls and resolved mismatches are kept.'),
    incidentRetentionDays: z.number().min(0.001).max(3650).default(30).describe('Days a closed incident is kept after it closed.'),
    openMismatchMaxAgeDays: z
      .number()
      .min(0.001)
      .max(3650)
      .default(14)
      .describe('Mismatches left open or acknowledged this many days are resolved as expired and their incidents closed; retention then removes them.'),
  })
  .describe('Durable storage.');

const reconcileSchema = z
  .strictObject({
    settleMs: z.number().int().min(0).max(120_000).default(3000).describe('An offline webhook is held this long; an online for the same key cancels it.'),
    graceMs: z.number().int().min(0).max(600_000).default(10_000).describe('A poll disagreeing within this long of a webhook for the key is a race, not a mismatch.'),
    confirmDelayMs: z.number().int().min(0).max(600_000).default(5000).describe('Delay before the targeted re-poll that confirms a disagreement.'),
    lateWindowMs: z.number().int().min(0).max(3_600_000).default(300_000).describe('A webhook confirming a correction within this long after it marks the mismatch late; later ones count as renewals.'),
    massGuardShare: z.number().min(0).max(1).default(0.2).describe('Mass-disagreement guard: share of believed-online users read offline.'),
    massGuardMinUsers: z.number().int().min(0).default(50).describe('Mass-disagreement guard: minimum number of such users.'),
    massGuardHoldMs: z.number().int().min(0).max(3_600_000).default(60_000).describe('How long a mass disagreement must persist before it is corrected.'),
    renewalSilenceMs: z.number().int().min(60_000).default(1_260_000).describe('No online webhook for an API-online user this long means renewals are lost (~21 min).'),
    healthWindowMinutes: z.number().int().min(1).max(10_080).default(60).describe('Window over which webhook health is judged.'),
  })
  .describe('Reconciliation rules.');

const pollSchema = z
  .strictObject({
    enabled: bool().default(true).describe('Poll the live status API.'),
    intervalSeconds: z.number().int().min(1).max(86_400).default(30).describe('Seconds between poll cycles (must divide a minute, an hour or a day evenly).'),
    coverageSeconds: z.number().int().min(1).default(300).describe('Every tracked user is polled at least once within this period.'),
    requestsPerSecond: z.number().min(0.1).max(10_000).default(50).describe('Request budget for status polls.'),
    users: z.array(str().min(1)).default([]).describe('userIDs always tracked.'),
    discoveryEnabled: bool().default(true).describe('Discover users with /user/get_all_users_uid.'),
    discoveryIntervalSeconds: z.number().int().min(10).default(3600).describe('Seconds between discovery sweeps.'),
    discoveryPageSize: z.number().int().min(1).max(10_000).default(1000).describe('showNumber per get_all_users_uid page.'),
    excludeUsers: z.array(str().min(1)).default(['imAdmin']).describe('userIDs never polled (admins, robots).'),
    readyMaxFailedCycles: z.number().int().min(1).max(1000).default(3).describe('/readyz fails after this many failed poll cycles in a row.'),
  })
  .describe('Polling of the live status API.');

const subscriberSchema = z.strictObject({
  name: str().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be lowercase a-z 0-9 _ - (max 64)').describe('Subscriber name (unique).'),
  url: httpUrl().describe('URL the batches are POSTed to.'),
  secret: str()
    .superRefine((v, ctx) => {
      // The same check push delivery makes when it starts: what check-config accepts, run can use. Empty: unsigned.
      const problem = v === '' ? undefined : signingSecretProblem(v);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: v });
    })
    .optional()
    .describe('Standard Webhooks signing secret (whsec_… base64, at least 16 bytes of key). Secret.'),
  secretFile: str().optional().describe('Path of a file holding the signing secret.'),
  users: z.array(str()).default([]).describe('Only events of these users (empty: all).'),
  types: z.array(z.enum(['presence.online', 'presence.offline'])).default([]).describe('Only these event types (empty: all).'),
  batchSize: z.number().int().min(1).max(1000).default(100).describe('Events per POST.'),
  maxAttempts: z.number().int().min(1).max(100).default(12).describe('Attempts before the subscriber is dead-lettered.'),
  timeoutMs: z.number().int().min(100).max(120_000).default(5000).describe('Per-POST timeout.'),
});

export const configSchema = z.strictObject({
  mode: z.enum(['active', 'shadow']).default('active').describe('shadow: corrections are recorded but not published to the stream.'),
  openim: openimSchema.default(openimSchema.parse({})),
  webhook: webhookSchema.default(webhookSchema.parse({})),
  api: apiSchema.default(apiSchema.parse({})),
  store: storeSchema.default(storeSchema.parse({})),
  reconcile: reconcileSchema.default(reconcileSchema.parse({})),
  poll: pollSchema.default(pollSchema.parse({})),
  subscribers: z.array(subscriberSchema).default([]).describe('Push subscribers (signed HTTP delivery).'),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level.'),
      pretty: z.enum(['auto', 'always', 'never']).default('auto').describe('auto: pretty only when stdout is a TTY.'),
    })
    .describe('Logging (pino JSON to stdout).')
    .default({ level: 'info', pretty: 'auto' }),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type SubscriberConfig = z.infer<typeof subscriberSchema>;

/** Key paths (with `*` for array items) whose values are secrets: never logged, always redacted. */
export const SECRET_PATHS = ['openim.secret', 'webhook.pathSecret', 'api.tokens', 'subscribers.*.secret', 'store.redis.password'] as const;

/** `xxxFile` keys whose file content replaces key `xxx` (for api.tokens: one token per line). */
export const FILE_KEYS = ['openim.secretFile', 'webhook.pathSecretFile', 'api.tokensFile', 'subscribers.*.secretFile', 'store.redis.passwordFile'] as const;

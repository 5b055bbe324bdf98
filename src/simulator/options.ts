import { z } from 'zod';
import { OprError } from '../errors.js';

/** OpenIM behaviours the simulator can play (docs/openim-contract.md, versions). */
export const OPENIM_VERSIONS = ['3.8.0', '3.8.1', '3.8.3'] as const;
export type OpenImVersion = (typeof OPENIM_VERSIONS)[number];

const probability = z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1');
const nonNegativeMs = z.number().min(0, 'must be >= 0 (milliseconds)').max(86_400_000, 'must be at most one day');
const gatewayList = z.array(z.number().int('must be gateway indexes (integers)').min(0, 'gateway indexes start at 0'));

/**
 * Fault knobs, settable at start and at run time (`setFaults`, `POST /control/faults`).
 * Delays of webhooks are simulated milliseconds (they scale with `speed`); API latency is real milliseconds,
 * because the client that suffers it lives in real time.
 */
export const faultsSchema = z.strictObject({
  /** '3.8.0': string statuses and no presence webhooks; '3.8.1': no presence webhooks; '3.8.3': normal. */
  version: z.enum(OPENIM_VERSIONS),
  /** Probability that a built webhook is lost before it reaches the gateway's queue. */
  loss: probability,
  /** Probability that a built webhook is queued twice. */
  duplication: probability,
  /** Extra simulated delay of every webhook between being built and entering the queue. */
  delayMs: nonNegativeMs,
  /** Extra random simulated delay (uniform 0..reorderMs) per webhook, which reorders them. */
  reorderMs: nonNegativeMs,
  /** Crashed gateways: their users vanish from the live view and truth, no webhooks, Redis view expires later. */
  crashedGateways: gatewayList,
  /** Slow gateways: their users read as offline in the live view (swallowed error) while truth says online. */
  slowGateways: gatewayList,
  /** Probability that an OpenIM API request is answered HTTP 500. */
  apiErrorRate: probability,
  /** Probability that an OpenIM API request is never answered (hangs until the client gives up). */
  apiTimeoutRate: probability,
  /** Real milliseconds added before every OpenIM API answer. */
  apiLatencyMs: nonNegativeMs,
});
export type Faults = z.infer<typeof faultsSchema>;
export const faultsPatchSchema = faultsSchema.partial();
export type FaultsPatch = z.infer<typeof faultsPatchSchema>;

export const workloadSchema = z.strictObject({
  /** Share of users online at start, and the level the default connect rate keeps up. */
  onlineFraction: probability.default(0.1),
  /** Mean simulated session length per connection (exponential). */
  sessionMeanMs: z.number().min(1000, 'must be at least 1000 ms').default(30 * 60_000),
  /** New sessions per simulated second; default users × onlineFraction / (sessionMeanMs / 1000). */
  connectRatePerSec: z.number().min(0, 'must be >= 0').optional(),
  /** Probability that a new session brings a second device shortly after the first. */
  multiDeviceProb: probability.default(0.15),
  /** Probability that an extra connection of an online user is on a platform the user already uses (two tabs). */
  samePlatformProb: probability.default(0.05),
  /** Reconnect storms per simulated hour (a share of one gateway's connections drop and reconnect). */
  stormsPerHour: z.number().min(0, 'must be >= 0').default(0),
  /** Share of a gateway's connections a storm hits. */
  stormFraction: probability.default(0.2),
  /** Simulated window over which a storm's (or a crash's) reconnects spread. */
  stormSpreadMs: nonNegativeMs.default(10_000),
  /** Whether the users of a crashed gateway reconnect to the others (while the workload runs). */
  reconnectOnCrash: z.boolean().default(true),
  /** Stop generating churn after this much simulated time (default: never). */
  durationMs: z.number().min(0, 'must be >= 0').optional(),
  /** Start with the workload paused (initial connections are still made). */
  paused: z.boolean().default(false),
});
export type WorkloadOptions = z.infer<typeof workloadSchema>;

const userIdString = z
  .string()
  .min(1, 'must not be empty')
  .max(256, 'must be at most 256 characters');

export const simulatorOptionsSchema = z.strictObject({
  /** Number of ordinary users, `u1`..`uN` (plus the admin). */
  users: z.number().int('must be an integer').min(0, 'must be >= 0').max(10_000_000, 'must be at most 10 000 000').default(1000),
  /** Number of msggateway instances. */
  gateways: z.number().int('must be an integer').min(1, 'must be at least 1').max(64, 'must be at most 64').default(2),
  /** Seed of every pseudo-random decision. */
  seed: z.union([z.number(), z.string()]).default(1),
  /** `webhooks.yml url`; no presence webhooks are sent when absent. */
  webhookUrl: z
    .string()
    .refine((v) => {
      try {
        const u = new URL(v);
        return u.protocol === 'http:' || u.protocol === 'https:';
      } catch {
        return false;
      }
    }, 'must be an absolute http:// or https:// URL, e.g. http://127.0.0.1:10006/callbackExample')
    .optional(),
  version: z.enum(OPENIM_VERSIONS).default('3.8.3'),
  /** Simulated ms per real ms (60 = a simulated minute per real second). */
  speed: z.number().gt(0, 'must be > 0').max(100_000, 'must be at most 100000').default(1),
  /** Simulated time at start (ms since the epoch); default now. */
  startTime: z.number().int('must be an integer (ms since the epoch)').min(0).optional(),
  loss: probability.default(0),
  duplication: probability.default(0),
  delayMs: nonNegativeMs.default(0),
  reorderMs: nonNegativeMs.default(0),
  apiErrorRate: probability.default(0),
  apiTimeoutRate: probability.default(0),
  apiLatencyMs: nonNegativeMs.default(0),
  crashedGateways: gatewayList.default([]),
  slowGateways: gatewayList.default([]),
  /** Per-gateway clock skew of webhook `seq`: a number n gives each gateway a seeded skew in [-n, n]; a list is exact. */
  clockSkewMs: z.union([nonNegativeMs, z.array(z.number().int())]).default(0),
  /** The workload generator, or `false` for none (only the direct methods change presence). */
  workload: z.union([z.literal(false), workloadSchema]).default(() => workloadSchema.parse({})),
  /** Port for the API and control endpoint on 127.0.0.1 (0 = any free port). */
  port: z.number().int('must be an integer').min(0, 'must be 0..65535').max(65535, 'must be 0..65535').default(0),
  /** `share.yml secret`. */
  secret: z.string().min(1, 'must not be empty').default('openIM123'),
  /** `share.yml imAdminUserID` (a registered user). */
  adminUserID: userIdString.default('imAdmin'),
  /** Extra entries of `imAdminUserID` whose user record does not exist (get_admin_token answers 1004). */
  missingAdminUserIDs: z.array(userIdString).default([]),
  /** Prefix of ordinary user IDs. */
  userPrefix: z.string().min(1, 'must not be empty').max(32).default('u'),
  /** Token lifetime in simulated seconds (OpenIM's default is 90 days). */
  tokenTtlSeconds: z.number().int('must be an integer').min(1, 'must be at least 1').default(7_776_000),
  /** Webhook HTTP timeout in simulated ms (`afterUserOnline.timeout`, 5 s by default). */
  webhookTimeoutMs: z.number().min(1, 'must be > 0').default(5000),
  /** Keep the last N built webhooks in memory for `webhookLog()` (0 = keep none). */
  webhookLogSize: z.number().int('must be an integer').min(0, 'must be >= 0').max(10_000_000).default(0),
});

export type SimulatorOptions = z.input<typeof simulatorOptionsSchema>;
export type ResolvedSimulatorOptions = z.output<typeof simulatorOptionsSchema>;

function issuePath(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/** Turns zod issues into one OprError whose message names every bad option and what is allowed. */
export function invalidOptionsError(what: string, input: unknown, issues: readonly z.core.$ZodIssue[]): OprError {
  const lines = issues.map((i) => {
    const key = i.code === 'unrecognized_keys' ? i.keys.join(', ') : issuePath(i.path) || '(root)';
    const got = i.code === 'unrecognized_keys' ? '' : ` (got ${JSON.stringify(valueAt(input, i.path)) ?? 'undefined'})`;
    const msg = i.code === 'unrecognized_keys' ? 'unknown option' : i.message;
    return `${key}: ${msg}${got}`;
  });
  return new OprError('OPR_ERR_SIMULATOR', `invalid ${what}: ${lines.join('; ')}`, {
    issues: issues.map((i) => ({ path: issuePath(i.path), message: i.message })),
  });
}

export function resolveSimulatorOptions(input: SimulatorOptions = {}): ResolvedSimulatorOptions {
  const r = simulatorOptionsSchema.safeParse(input);
  if (!r.success) throw invalidOptionsError('simulator options', input, r.error.issues);
  const o = r.data;
  for (const key of ['crashedGateways', 'slowGateways'] as const) {
    const bad = o[key].find((g) => g >= o.gateways);
    if (bad !== undefined) {
      throw new OprError('OPR_ERR_SIMULATOR', `invalid simulator options: ${key}: gateway ${bad} does not exist (0..${o.gateways - 1})`);
    }
  }
  if (Array.isArray(o.clockSkewMs) && o.clockSkewMs.length !== o.gateways) {
    throw new OprError(
      'OPR_ERR_SIMULATOR',
      `invalid simulator options: clockSkewMs: a list needs one entry per gateway (${o.gateways}), got ${o.clockSkewMs.length}`,
    );
  }
  if (o.missingAdminUserIDs.includes(o.adminUserID)) {
    throw new OprError('OPR_ERR_SIMULATOR', 'invalid simulator options: missingAdminUserIDs must not contain adminUserID');
  }
  return o;
}

export function initialFaults(o: ResolvedSimulatorOptions): Faults {
  return {
    version: o.version,
    loss: o.loss,
    duplication: o.duplication,
    delayMs: o.delayMs,
    reorderMs: o.reorderMs,
    crashedGateways: [...o.crashedGateways],
    slowGateways: [...o.slowGateways],
    apiErrorRate: o.apiErrorRate,
    apiTimeoutRate: o.apiTimeoutRate,
    apiLatencyMs: o.apiLatencyMs,
  };
}

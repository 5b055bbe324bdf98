/**
 * `openim-presence doctor`: checks what the daemon needs from OpenIM and from the network, says what to fix for each
 * failed check, and prints the `webhooks.yml` lines to paste into OpenIM. Exit 0 when every check passes, 1 otherwise
 * (2 when the configuration cannot be loaded).
 *
 * Secrets: OpenIM's secret and the API tokens are never printed. The webhook path secret appears exactly once, in the
 * `url:` line of the webhooks.yml block, because OpenIM needs it there.
 */
import type { Command } from 'commander';
import pino from 'pino';
import { clusterKeys } from '../cluster/cluster-keys.js';
import { checkDurability, connectRedis, openRedis, safeRedisUrl } from '../cluster/redis-connection.js';
import { parseLease } from '../cluster/writer-lease.js';
import { badPortOfUrl, badPortReason, isFetchBadPort } from '../config/bad-ports.js';
import { formatConfigIssue, loadConfig } from '../config/load-config.js';
import { configSchema } from '../config/schema.js';
import type { Config } from '../config/schema.js';
import { ConfigError, isOprError } from '../errors.js';
import type { OpenImClientOptions } from '../openim/openim-client.js';
import { createOpenImClient } from '../openim/openim-client.js';
import type { OpenImApi, ProbeResult } from '../openim/types.js';
import { EXIT_FAILED, exitTwoOnUsageErrors, networkReason, runAction, urlForListenAddress, usageError } from './http-client.js';

export const CHECK_STATUSES = ['ok', 'warn', 'fail', 'skip'] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

export interface DoctorCheck {
  name: string;
  status: CheckStatus;
  detail: string;
  /** For failed checks (and some warnings): what to change. */
  fix?: string;
}

export interface DoctorReport {
  checks: DoctorCheck[];
  /** True when no check failed. */
  ok: boolean;
  /** The full text doctor prints: checks, the webhooks.yml block and the version warning. */
  text: string;
}

export interface DoctorDeps {
  /** Builds the OpenIM client (default: the axios client). */
  createClient?: (options: OpenImClientOptions) => OpenImApi;
  /** Timeout of the webhook listener check, in ms (default 5000). */
  listenerTimeoutMs?: number;
}

const PATH_SECRET_PLACEHOLDER = '<webhook.pathSecret>';

/** A URL without credentials, query or trailing slash: safe to print. */
function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return '(invalid URL)';
  }
}

function webhookBase(config: Config): { base: string | undefined; problem?: string } {
  if (config.webhook.publicUrl !== undefined) return { base: shownUrl(config.webhook.publicUrl) };
  if (config.webhook.port === 0) return { base: undefined, problem: 'webhook.port is 0 (a random port), so OpenIM cannot be given a fixed URL' };
  return { base: urlForListenAddress(config.webhook.host, config.webhook.port) };
}

const LOOPBACK = /^(127\.|localhost$|::1$|\[::1\]$)/;

async function openImChecks(config: Config, deps: DoctorDeps): Promise<DoctorCheck[]> {
  const apiUrl = shownUrl(config.openim.apiUrl);
  const admin = JSON.stringify(config.openim.adminUserID);
  const checks: DoctorCheck[] = [];
  const skip = (name: string, why: string): DoctorCheck => ({ name, status: 'skip', detail: `not checked: ${why}` });
  const names = {
    reach: `OpenIM API reachable at ${apiUrl}`,
    token: `admin token for ${admin}`,
    admin: 'admin permission (get_users_online_status)',
    form: 'status form (OpenIM version)',
  };
  if (config.openim.secret === undefined || config.openim.secret === '') {
    checks.push({
      name: 'openim.secret is set',
      status: 'fail',
      detail: 'no OpenIM secret is configured, so no admin token can be requested',
      fix: 'set openim.secret (or openim.secretFile, or the OPR_OPENIM__SECRET environment variable) to `secret` in OpenIM\'s share.yml',
    });
    for (const n of [names.reach, names.token, names.admin, names.form]) checks.push(skip(n, 'openim.secret is not set'));
    return checks;
  }
  checks.push({ name: 'openim.secret is set', status: 'ok', detail: 'from the configuration (not shown)' });

  const create = deps.createClient ?? createOpenImClient;
  const client = create({
    apiUrl: config.openim.apiUrl,
    secret: config.openim.secret,
    adminUserID: config.openim.adminUserID,
    operationIDPrefix: config.openim.operationIDPrefix,
    timeoutMs: config.openim.timeoutMs,
    // A diagnosis should answer quickly: at most one retry.
    retries: Math.min(config.openim.retries, 1),
    batchSize: config.openim.batchSize,
    concurrency: 1,
  });
  let probe: ProbeResult;
  try {
    probe = await client.probe();
  } catch (err) {
    probe = {
      reachable: false,
      tokenObtained: false,
      adminConfirmed: false,
      statusForm: undefined,
      problems: [err instanceof Error ? err.message : String(err)],
      latencyMs: undefined,
    };
  } finally {
    client.close();
  }
  const problem = probe.problems.find((p) => !p.includes('"online"/"offline"')) ?? probe.problems[0] ?? 'no details';

  if (!probe.reachable) {
    checks.push({
      name: names.reach,
      status: 'fail',
      detail: problem,
      fix: `set openim.apiUrl to the address of openim-api (default port 10002; now ${apiUrl}) and make sure it runs and this host can reach it`,
    });
    for (const n of [names.token, names.admin, names.form]) checks.push(skip(n, 'OpenIM is not reachable'));
    return checks;
  }
  checks.push({ name: names.reach, status: 'ok', detail: probe.latencyMs === undefined ? 'answered' : `answered in ${Math.round(probe.latencyMs)} ms` });

  if (!probe.tokenObtained) {
    checks.push({
      name: names.token,
      status: 'fail',
      detail: problem,
      fix: `make openim.secret equal \`secret\` in OpenIM's share.yml and openim.adminUserID (${admin}) one of share.yml \`imAdminUserID\`; OpenIM must be v3.8.1 or later (/auth/get_admin_token)`,
    });
    for (const n of [names.admin, names.form]) checks.push(skip(n, 'no admin token'));
    return checks;
  }
  checks.push({ name: names.token, status: 'ok', detail: 'obtained (not shown)' });

  if (!probe.adminConfirmed) {
    checks.push({
      name: names.admin,
      status: 'fail',
      detail: problem,
      fix: `add ${admin} to \`imAdminUserID\` in OpenIM's share.yml (and restart openim-api), or set openim.adminUserID to a userID listed there: the live status API answers admin tokens only`,
    });
    checks.push(skip(names.form, 'the live status API did not answer'));
    return checks;
  }
  checks.push({ name: names.admin, status: 'ok', detail: 'the live status API answered the admin token' });

  if (probe.statusForm === 'string') {
    checks.push({
      name: names.form,
      status: 'fail',
      detail: 'OpenIM answers `status` as "online"/"offline": that is v3.8.0, which never sends presence webhooks',
      fix: 'upgrade OpenIM to v3.8.2 or later; until then every presence change is learned only by polling, up to one poll interval late',
    });
  } else if (probe.statusForm === 'numeric') {
    checks.push({
      name: names.form,
      status: 'ok',
      detail: 'numeric 0/1: OpenIM v3.8.1 or later (v3.8.1 itself sends no presence webhooks: see below)',
    });
  } else {
    checks.push({ name: names.form, status: 'warn', detail: `could not tell the status form: ${problem}` });
  }
  return checks;
}

async function listenerChecks(config: Config, deps: DoctorDeps): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const pathSecret = config.webhook.pathSecret;
  const { base, problem } = webhookBase(config);
  const name = `webhook listener answers at ${base ?? '(no URL)'}/${PATH_SECRET_PLACEHOLDER}`;
  if (pathSecret === undefined) {
    checks.push({
      name: 'webhook.pathSecret is set',
      status: 'fail',
      detail: 'without it the daemon does not start and OpenIM has no URL to post to',
      fix: 'set webhook.pathSecret (or webhook.pathSecretFile, or OPR_WEBHOOK__PATH_SECRET) to 8-128 URL-safe characters, e.g. the output of `openssl rand -hex 16`',
    });
    checks.push({ name, status: 'skip', detail: 'not checked: webhook.pathSecret is not set' });
    return checks;
  }
  checks.push({ name: 'webhook.pathSecret is set', status: 'ok', detail: 'from the configuration (shown only in the webhooks.yml url below)' });
  if (base === undefined) {
    checks.push({ name, status: 'fail', detail: problem ?? 'no URL', fix: 'set webhook.publicUrl to the URL at which OpenIM reaches this listener, or a fixed webhook.port' });
    return checks;
  }
  const blocked = badPortOfUrl(base);
  if (blocked !== undefined) {
    checks.push({
      name,
      status: 'warn',
      detail: `not checked: ${badPortReason(blocked)}. OpenIM itself can still post there`,
      fix: `move ${config.webhook.publicUrl === undefined ? 'webhook.port' : 'webhook.publicUrl (and the listener behind it)'} to another port so that doctor and curl-like tools can check it`,
    });
    return checks;
  }
  const shown = `${base}/${PATH_SECRET_PLACEHOLDER}/_doctor`;
  let status: number;
  try {
    const res = await fetch(`${base}/${pathSecret}/_doctor`, {
      method: 'GET',
      redirect: 'manual',
      signal: AbortSignal.timeout(deps.listenerTimeoutMs ?? 5000),
    });
    status = res.status;
    await res.text();
  } catch (err) {
    checks.push({
      name,
      status: 'fail',
      detail: `nothing answered GET ${shown} (${networkReason(err)})`,
      fix: 'start the daemon (`openim-presence run --config …`) and check webhook.publicUrl, webhook.host and webhook.port; OpenIM\'s msggateway hosts must reach the same URL',
    });
    return checks;
  }
  if (status === 200) {
    checks.push({ name, status: 'ok', detail: 'the daemon answered with this path secret' });
  } else if (status === 403) {
    checks.push({
      name,
      status: 'warn',
      detail: 'the daemon answered with this path secret, but this host is not in webhook.allowlist',
      fix: "make sure webhook.allowlist includes the addresses of OpenIM's msggateway hosts",
    });
  } else if (status === 404) {
    checks.push({
      name,
      status: 'fail',
      detail: `GET ${shown} answered 404: what listens there is not this daemon's webhook listener with this path secret`,
      fix: 'run the daemon with the same webhook.pathSecret as this configuration, and point webhook.publicUrl (or webhook.host/port) at its webhook listener',
    });
  } else {
    checks.push({
      name,
      status: 'fail',
      detail: `GET ${shown} answered HTTP ${status}, expected 200`,
      fix: 'point webhook.publicUrl at the webhook listener itself (a proxy in between must pass the path through unchanged)',
    });
  }
  return checks;
}

/** Without webhook.publicUrl the printed url is the listen address, which OpenIM elsewhere cannot reach. */
function publicUrlChecks(config: Config): DoctorCheck[] {
  const host = config.webhook.host;
  if (config.webhook.publicUrl !== undefined || !(LOOPBACK.test(host) || host === '0.0.0.0' || host === '::')) return [];
  const { base } = webhookBase(config);
  return [
    {
      name: 'webhook.publicUrl is set',
      status: 'warn',
      detail: `not set: the url below uses ${base ?? 'the listen address'}, which OpenIM reaches only if openim-msggateway runs on this host`,
      fix: "set webhook.publicUrl to the address at which OpenIM's msggateway reaches this listener",
    },
  ];
}

/** An API port that browsers and fetch refuse: the daemon runs, but its dashboard and the CLI cannot reach it. */
function apiPortChecks(config: Config): DoctorCheck[] {
  if (!isFetchBadPort(config.api.port)) return [];
  return [
    {
      name: `API port ${config.api.port} opens in a browser`,
      status: 'warn',
      detail: `${badPortReason(config.api.port)}: the dashboard does not open and report, user, mismatches, tail and subscribers fail`,
      fix: `set api.port to a port outside that list (the default is ${configSchema.parse({}).api.port})`,
    },
  ];
}

/**
 * store.backend redis: Redis answers, persists at least as store.redis.durability asks (the server's own CONFIG), and
 * some replica holds the writer lease. Nothing is written; the connection is closed afterwards.
 */
async function redisChecks(config: Config): Promise<DoctorCheck[]> {
  if (config.store.backend !== 'redis') return [];
  const settings = config.store.redis;
  const url = safeRedisUrl(settings.url);
  const names = { reach: `redis reachable at ${url}`, durability: 'redis durability', lease: 'writer lease' };
  const checks: DoctorCheck[] = [];
  const redis = connectRedis(settings, pino({ level: 'silent' }), { name: 'openim-presence-doctor' });
  try {
    try {
      await openRedis(redis, settings);
    } catch (err) {
      checks.push({
        name: names.reach,
        status: 'fail',
        detail: err instanceof Error ? err.message : String(err),
        fix: `start redis-server (Redis 7) and make sure this host reaches it; set store.redis.url (now ${url}) to its address, and store.redis.password (or passwordFile, or OPR_STORE__REDIS__PASSWORD) when it requires AUTH`,
      });
      for (const n of [names.durability, names.lease]) checks.push({ name: n, status: 'skip', detail: 'not checked: redis is not reachable' });
      return checks;
    }
    checks.push({ name: names.reach, status: 'ok', detail: 'answered PING' });

    const durability = await checkDurability(redis, settings.durability);
    if (durability.actual === 'unknown') {
      checks.push({
        name: names.durability,
        status: 'warn',
        detail: durability.message,
        fix: `allow CONFIG GET to this client, or make sure redis.conf has appendonly yes and appendfsync ${durability.wanted}`,
      });
    } else if (durability.ok) {
      checks.push({ name: names.durability, status: 'ok', detail: durability.message });
    } else {
      checks.push({
        name: names.durability,
        status: 'fail',
        detail: durability.message,
        fix: `set \`appendonly yes\` and \`appendfsync ${durability.wanted}\` in redis.conf and restart redis-server (or CONFIG SET both, then CONFIG REWRITE)${
          durability.wanted === 'always' && durability.actual === 'everysec' ? ', or set store.redis.durability to everysec if up to a second of acknowledged webhooks may be lost' : ''
        }`,
      });
    }

    const keys = clusterKeys(settings.keyPrefix);
    const holder = parseLease(await redis.get(keys.lease));
    if (holder !== undefined) {
      const api = holder.apiUrl === '' ? '' : `, API at ${shownUrl(holder.apiUrl)}`;
      checks.push({ name: names.lease, status: 'ok', detail: `held by replica ${JSON.stringify(holder.replica)} (fencing token ${holder.token}${api})` });
    } else {
      const used = (await redis.exists(keys.cluster)) === 1;
      checks.push({
        name: names.lease,
        status: 'warn',
        detail: `nobody holds it (key ${keys.lease}): ${used ? 'no replica is the writer now, so webhooks wait in the inbox and nothing is polled' : `no replica has used key prefix ${JSON.stringify(settings.keyPrefix)} yet`}`,
        fix: 'start a replica (`openim-presence run`) with this store.redis.url and store.redis.keyPrefix; one of them takes the lease within store.redis.leaseTtlMs',
      });
    }
  } catch (err) {
    // Reachable at first, then a command failed (timeout, ACL, the server went away).
    const done = new Set(checks.map((c) => c.name));
    const why = err instanceof Error ? err.message : String(err);
    for (const n of [names.durability, names.lease]) {
      if (!done.has(n)) checks.push({ name: n, status: 'fail', detail: `redis did not answer: ${why}`, fix: 'check that redis-server at store.redis.url runs and answers within store.redis.commandTimeoutMs' });
    }
  } finally {
    redis.disconnect();
  }
  return checks;
}

/** The lines to paste into OpenIM's config/webhooks.yml. */
export function webhooksYml(url: string): string {
  return [
    `url: ${url}`,
    'afterUserOnline:',
    '  enable: true',
    '  timeout: 5',
    'afterUserOffline:',
    '  enable: true',
    '  timeout: 5',
    '# afterUserKickOff is never sent by OpenIM 3.8.x (kicks and force_logout arrive as afterUserOffline); leave it as it is.',
  ].join('\n');
}

const MARK: Record<CheckStatus, string> = { ok: '[ ok ]', warn: '[warn]', fail: '[FAIL]', skip: '[skip]' };

export async function runDoctor(config: Config, deps: DoctorDeps = {}): Promise<DoctorReport> {
  const checks = [
    ...(await openImChecks(config, deps)),
    ...(await listenerChecks(config, deps)),
    ...(await redisChecks(config)),
    ...publicUrlChecks(config),
    ...apiPortChecks(config),
  ];
  const ok = checks.every((c) => c.status !== 'fail');
  const lines: string[] = ['openim-presence doctor', ''];
  for (const c of checks) {
    lines.push(`${MARK[c.status]} ${c.name}: ${c.detail}`);
    if (c.fix !== undefined && (c.status === 'fail' || c.status === 'warn')) lines.push(`       fix: ${c.fix}`);
  }
  const { base } = webhookBase(config);
  const url = `${base ?? '<webhook.publicUrl>'}/${config.webhook.pathSecret ?? PATH_SECRET_PLACEHOLDER}`;
  lines.push(
    '',
    "Paste into OpenIM's config/webhooks.yml (read once at start: restart openim-msggateway afterwards).",
    'The url line contains the webhook path secret: keep this output private.',
    '',
    webhooksYml(url),
    '',
    'Warning: OpenIM v3.8.0 and v3.8.1 never send presence webhooks, whatever webhooks.yml says: upgrade to v3.8.2 or later.',
    'Until then the daemon learns every change by polling only.',
    '',
    ok ? 'All checks passed.' : `${checks.filter((c) => c.status === 'fail').length} check(s) failed: see "fix" above.`,
  );
  return { checks, ok, text: `${lines.join('\n')}\n` };
}

export function registerDoctorCommand(program: Command): void {
  const cmd = program
    .command('doctor')
    .description("Check OpenIM reachability, the admin token, the status form, the webhook listener's URL and (store.backend redis) Redis; print the webhooks.yml lines to paste")
    .option('-c, --config <file>', 'YAML configuration file');
  exitTwoOnUsageErrors(cmd);
  cmd.action(
    runAction(async (opts: { config?: string }) => {
      let config: Config;
      try {
        config = loadConfig(opts.config === undefined ? {} : { file: opts.config });
      } catch (err) {
        if (err instanceof ConfigError) throw usageError(`invalid configuration:\n${err.issues.map(formatConfigIssue).join('\n')}`);
        if (isOprError(err)) throw usageError(err.message);
        throw err;
      }
      const report = await runDoctor(config);
      process.stdout.write(report.text);
      process.exitCode = report.ok ? 0 : EXIT_FAILED;
    }),
  );
}

import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import closeWithGrace from 'close-with-grace';
import { stringify as stringifyYaml } from 'yaml';
import { badPortReason, isFetchBadPort } from '../config/bad-ports.js';
import { configSchema } from '../config/schema.js';
import type { Config } from '../config/schema.js';
import { startDaemon } from '../daemon/daemon.js';
import { demoStatus } from '../demo/demo-script.js';
import type { DemoPlan } from '../demo/demo-script.js';
import { createLogger } from '../logging/logger.js';
import { startSimulator } from '../simulator/index.js';

interface DemoOptions {
  port: number;
  users: number;
  loss: number;
  episodeAfter: number;
  dataDir?: string;
  seed: number;
  verbose: boolean;
}

/**
 * How the demo is sized so each episode shows its mechanism within the times the README states. The guard counts
 * poll-verified users read wholly offline: with about 25 % of the users online (three quarters of it reached by the
 * crash at 2 min), the crashed gateway's third is ~55 users of 1 000, over the floor of 25 and over 20 % of the
 * believed-online users. A one-minute health window lets webhook health turn silent one minute after the last
 * webhook (v3.8.1 episode) instead of an hour.
 */
export const DEMO_TUNING = { onlineShare: 0.25, guardHoldMs: 45_000, healthWindowMinutes: 1 } as const;

/** The guard's floor for a demo of `users`: 2.5 % of them (25 of 1 000), at least 5. */
export function demoGuardMinUsers(users: number): number {
  return Math.max(5, Math.round(users * 0.025));
}

/** The configuration's default api.port (outside the Fetch standard's blocked ports, so browsers open it). */
export const DEFAULT_API_PORT: number = configSchema.parse({}).api.port;

function integer(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}.`);
    return n;
  };
}

/** A port for the dashboard: 0 (a free one) or one that browsers and fetch accept. */
function dashboardPort(v: string): number {
  const n = integer(0, 65535)(v);
  if (isFetchBadPort(n)) throw new InvalidArgumentError(`${badPortReason(n)}; pick another (the default is ${DEFAULT_API_PORT}).`);
  return n;
}

function probability(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('expected a probability from 0 to 1.');
  return n;
}

/**
 * `demo`: the daemon, the built-in OpenIM simulator (realistic churn, lossy webhooks) and the dashboard, with a
 * scripted episode: a gateway crashes, later OpenIM is "downgraded" to v3.8.1 and its presence webhooks stop.
 */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('Run the daemon against the built-in OpenIM simulator and print the dashboard URL to open in a browser (what `npm start` runs)')
    .addOption(new Option('--port <p>', 'port of the dashboard and /v1 API on 127.0.0.1').argParser(dashboardPort).default(DEFAULT_API_PORT))
    .addOption(new Option('--users <n>', 'simulated users').argParser(integer(10, 1_000_000)).default(1000))
    .addOption(new Option('--loss <p>', 'share of webhooks the simulator loses').argParser(probability).default(0.2))
    .addOption(new Option('--episode-after <s>', 'seconds before the scripted gateway crash (v3.8.1 mode follows after as long again)').argParser(integer(10, 86_400)).default(120))
    .addOption(new Option('--data-dir <dir>', 'keep the database here instead of a temporary folder removed on exit'))
    .addOption(new Option('--seed <s>', 'simulator seed').argParser(integer(0, 2 ** 32 - 1)).default(42))
    .option('--verbose', 'log at info level instead of warn', false)
    .action(async (opts: DemoOptions) => {
      await runDemo(opts);
    });
}

/** A free loopback port, for `--port 0`. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function runDemo(opts: DemoOptions): Promise<void> {
  const port = opts.port === 0 ? await freePort() : opts.port;
  const tempDir = opts.dataDir === undefined ? mkdtempSync(join(tmpdir(), 'openim-presence-demo-')) : undefined;
  const dataDir = opts.dataDir ?? tempDir!;
  const pathSecret = randomBytes(12).toString('hex');
  const log = createLogger({ level: opts.verbose ? 'info' : 'warn', pretty: 'auto', secrets: [pathSecret] });

  const sim = await startSimulator({
    users: opts.users,
    gateways: 3,
    seed: opts.seed,
    loss: opts.loss,
    duplication: 0.02,
    reorderMs: 500,
    // The daemon serves webhooks on its API port; connections made before it listens lose their webhooks.
    webhookUrl: `http://127.0.0.1:${port}/${pathSecret}`,
    // Nobody online at start (so every connection has its webhook), then churn that settles near 25 % online: by
    // the crash about three quarters of that is reached, so the crashed gateway's third of the online users is
    // well over the guard's floor below (demo sizing: see DEMO_TUNING).
    workload: {
      onlineFraction: 0,
      connectRatePerSec: (opts.users * DEMO_TUNING.onlineShare) / 90,
      sessionMeanMs: 90_000,
      multiDeviceProb: 0.2,
      samePlatformProb: 0.05,
      reconnectOnCrash: false,
    },
  }).catch((err: unknown) => {
    process.stderr.write(`demo: the simulator could not start: ${(err as Error).message}\n`);
    return undefined;
  });
  if (!sim) {
    process.exitCode = 1;
    return;
  }
  const input = {
    openim: { apiUrl: sim.apiUrl, secret: sim.secret, adminUserID: sim.adminUserID },
    // The simulator's gateways run on this host: the listener's public URL is the loopback one (doctor checks it).
    webhook: { host: '127.0.0.1', port, pathSecret, publicUrl: `http://127.0.0.1:${port}` },
    api: { host: '127.0.0.1', port },
    store: { path: join(dataDir, 'presence.db') },
    poll: { intervalSeconds: 5, coverageSeconds: 30, discoveryIntervalSeconds: 600 },
    reconcile: {
      massGuardMinUsers: demoGuardMinUsers(opts.users),
      massGuardHoldMs: DEMO_TUNING.guardHoldMs,
      healthWindowMinutes: DEMO_TUNING.healthWindowMinutes,
    },
    log: { level: opts.verbose ? 'info' : 'warn' },
  };
  const config: Config = configSchema.parse(input);
  // The same settings in a file, so `doctor`, `report`, `tail` and `incidents` can be pointed at this demo.
  const configFile = join(dataDir, 'demo.yaml');
  writeFileSync(configFile, stringifyYaml({ ...input, store: undefined, log: undefined }), { mode: 0o600 });
  const cli = 'npx openim-presence';
  const commands = {
    doctor: `${cli} doctor --config ${configFile}`,
    report: `${cli} report --config ${configFile} --since 15m`,
    tail: `${cli} tail --config ${configFile}`,
    incidents: `${cli} incidents list --config ${configFile}`,
  };
  const episodeMs = opts.episodeAfter * 1000;
  const plan: DemoPlan = {
    startedAt: Date.now(),
    episodeMs,
    users: opts.users,
    loss: opts.loss,
    crashedGateway: 'gw-0',
    guardHoldMs: DEMO_TUNING.guardHoldMs,
    healthWindowMinutes: DEMO_TUNING.healthWindowMinutes,
    commands,
  };
  let daemon;
  try {
    daemon = await startDaemon(config, { logger: log, demo: () => demoStatus(plan, Date.now()) });
  } catch (err) {
    process.stderr.write(`demo: the daemon could not start on 127.0.0.1:${port}: ${(err as Error).message} (try --port 0)\n`);
    await sim.close();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    process.exitCode = 1;
    return;
  }

  daemon.bus.on('guard:raised', (g) => {
    plan.lastGuard = { at: Date.now(), readOffline: g.readOffline };
  });
  const say = (at: number): void => {
    const e = demoStatus(plan, at).episode;
    process.stdout.write(`[demo ${new Date(at).toISOString().slice(11, 19)}] episode ${e.number}: ${e.title}. ${e.watch}\n`);
  };
  const timers = [
    setTimeout(() => {
      sim.crashGateway(0);
      say(plan.startedAt + episodeMs);
    }, plan.startedAt + episodeMs - Date.now()),
    setTimeout(() => {
      sim.setFaults({ version: '3.8.1' });
      say(plan.startedAt + 2 * episodeMs);
    }, plan.startedAt + 2 * episodeMs - Date.now()),
  ];
  process.stdout.write(
    [
      '',
      `  openim-presence demo: ${opts.users} simulated users, ${Math.round(opts.loss * 100)} % of webhooks lost`,
      '',
      `  Dashboard   ${daemon.apiUrl}/`,
      `  Events      ${daemon.apiUrl}/v1/events   (SSE with Accept: text/event-stream)`,
      `  Health      ${daemon.apiUrl}/v1/health`,
      `  Simulator   ${sim.apiUrl}  (control: ${sim.controlUrl})`,
      `  Data        ${dataDir}${tempDir ? ' (removed on exit)' : ''}`,
      '',
      '  Point the CLI at it (the settings file is in the data folder):',
      `    ${commands.doctor}`,
      `    ${commands.report}`,
      `    ${commands.tail}`,
      `    ${commands.incidents}`,
      '',
      `  Episode 1 now: ${Math.round(opts.loss * 100)} % of webhooks lost, corrections within seconds.`,
      `  Episode 2 in ${opts.episodeAfter} s: gateway gw-0 crashes; the mass-disagreement guard raises a suspect_poll,`,
      `    holds ${DEMO_TUNING.guardHoldMs / 1000} s, then corrects its users offline.`,
      `  Episode 3 in ${2 * opts.episodeAfter} s: OpenIM behaves like v3.8.1 (no presence webhooks); webhook health turns`,
      `    silent about ${DEMO_TUNING.healthWindowMinutes} min later (the demo's health window).`,
      '  Press Ctrl-C to stop.',
      '',
    ].join('\n') + '\n',
  );

  closeWithGrace({ delay: 10_000, onSecondSignal: () => process.exit(130) }, async () => {
    for (const t of timers) clearTimeout(t);
    process.stdout.write('[demo] stopping\n');
    await daemon.close();
    await sim.close();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  });
}

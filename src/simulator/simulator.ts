import type { SimulatorCounters } from './counters.js';
import type { BuiltWebhook } from './gateway.js';
import { startSimulatorServer } from './http-server.js';
import { resolveSimulatorOptions } from './options.js';
import type { Faults, FaultsPatch, ResolvedSimulatorOptions, SimulatorOptions } from './options.js';
import type { PresenceTruth } from './presence-model.js';
import { SimulatorCore } from './simulator-core.js';
import type { ConnectionInfo, UserView } from './simulator-core.js';

/** A running OpenIM 3.8.x simulator (see `startSimulator`). */
export interface Simulator {
  /** Base URL of the OpenIM API, e.g. `http://127.0.0.1:40123` (routes `/auth/…`, `/user/…`). */
  readonly apiUrl: string;
  /** Base URL of the control endpoint (`<apiUrl>/control`). */
  readonly controlUrl: string;
  readonly port: number;
  /** `share.yml secret` accepted by `/auth/get_admin_token`. */
  readonly secret: string;
  readonly adminUserID: string;
  /** The options after defaults. */
  readonly options: ResolvedSimulatorOptions;

  /** Simulated time, ms since the epoch. */
  now(): number;
  /** Opens one connection (default gateway: the user's index modulo the live gateways). */
  connect(userID: string, platformID: number, gateway?: number): ConnectionInfo;
  /** Closes one connection of the user on the platform (oldest first); false if there was none. */
  disconnect(userID: string, platformID: number, gateway?: number): boolean;
  /** Closes every connection of the user; returns how many. */
  disconnectAll(userID: string): number;
  /** Sets the background flag of the user's connections on a platform (no webhook); returns how many. */
  setBackground(userID: string, platformID: number, background: boolean): number;

  /** True presence of every online (user, platform). */
  truth(): PresenceTruth[];
  /** True presence of one user (empty when offline). */
  truthOf(userID: string): PresenceTruth[];
  /** Truth, live view and Redis view of one user. */
  view(userID: string): UserView;
  counters(): SimulatorCounters;
  /** The last `webhookLogSize` webhooks the gateways built, in build order (empty unless the option is set). */
  webhookLog(): BuiltWebhook[];

  faults(): Faults;
  setFaults(patch: FaultsPatch): Faults;
  crashGateway(gateway: number): void;
  restartGateway(gateway: number): void;
  setGatewaySlow(gateway: number, slow: boolean): void;
  /** Expires every token issued so far; returns how many were valid. */
  expireTokens(): number;

  pauseWorkload(): void;
  resumeWorkload(): void;
  /**
   * Resolves once every pending state has been flushed and every queued webhook delivered or dropped (pause the
   * workload first for a stable end state); rejects after `timeoutMs` real ms if given.
   */
  quiesce(options?: { timeoutMs?: number }): Promise<void>;
  /** Stops timers, the workload, outgoing webhooks and the server. Safe to call more than once. */
  close(): Promise<void>;
}

/**
 * Starts the simulator on 127.0.0.1 (port 0 by default). Throws an OprError (`OPR_ERR_SIMULATOR`) naming the bad
 * option when the options are invalid or the port cannot be bound.
 */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const resolved = resolveSimulatorOptions(options);
  const core = new SimulatorCore(resolved);
  let apiUrl = '';
  const info = (): Record<string, unknown> => ({
    apiUrl,
    controlUrl: `${apiUrl}/control`,
    adminUserID: resolved.adminUserID,
    users: resolved.users,
    gateways: core.gateways.map((g) => ({ index: g.index, pid: g.pid, crashed: g.crashed, slow: g.slow, skewMs: g.skewMs })),
    seed: resolved.seed,
    speed: resolved.speed,
    version: core.currentVersion(),
    webhookUrl: resolved.webhookUrl ?? null,
    workload: core.workload === undefined ? null : { paused: core.workload.isPaused },
  });
  let server;
  try {
    server = await startSimulatorServer(core, resolved.port, info);
  } catch (e) {
    core.close();
    throw e;
  }
  apiUrl = `http://127.0.0.1:${server.port}`;
  const s = server;
  let closing: Promise<void> | undefined;

  return {
    apiUrl,
    controlUrl: `${apiUrl}/control`,
    port: server.port,
    secret: resolved.secret,
    adminUserID: resolved.adminUserID,
    options: resolved,
    now: () => core.clock.now(),
    connect: (userID, platformID, gateway) => core.connect(userID, platformID, gateway),
    disconnect: (userID, platformID, gateway) => core.disconnect(userID, platformID, gateway),
    disconnectAll: (userID) => core.disconnectAll(userID),
    setBackground: (userID, platformID, background) => core.setBackground(userID, platformID, background),
    truth: () => core.truth(),
    truthOf: (userID) => core.truthOf(userID),
    view: (userID) => core.view(userID),
    counters: () => core.counterSnapshot(),
    webhookLog: () => core.webhookLog(),
    faults: () => core.faults(),
    setFaults: (patch) => core.setFaults(patch),
    crashGateway: (g) => core.crashGateway(g),
    restartGateway: (g) => core.restartGateway(g),
    setGatewaySlow: (g, slow) => core.setGatewaySlow(g, slow),
    expireTokens: () => core.expireTokens(),
    pauseWorkload: () => core.workload?.pause(),
    resumeWorkload: () => core.workload?.resume(),
    quiesce: (o) => core.quiesce(o?.timeoutMs),
    close: () => {
      closing ??= (async () => {
        core.close();
        await s.close();
      })();
      return closing;
    },
  };
}

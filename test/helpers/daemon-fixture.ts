import pino from 'pino';
import { join } from 'node:path';
import type { ConfigInput } from '../../src/config/schema.js';
import { configSchema } from '../../src/config/schema.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { tempDir } from './temp-dir.js';

export const TEST_PATH_SECRET = 'test-path-secret-0123';

type DeepPartial<T> = { [K in keyof T]?: T[K] extends (infer U)[] ? U[] : T[K] extends object ? DeepPartial<T[K]> : T[K] };

/** Starts a daemon on loopback with port 0, a temp DB, a silent logger and fast reconcile timings. */
export async function startTestDaemon(overrides: DeepPartial<ConfigInput> = {}): Promise<Daemon & { dir: string; cleanupDir: () => void }> {
  const dir = tempDir('opr-daemon-');
  const input = {
    ...overrides,
    openim: { secret: 'openIM123', ...overrides.openim },
    webhook: { host: '127.0.0.1', port: 0, pathSecret: TEST_PATH_SECRET, ...overrides.webhook },
    api: { host: '127.0.0.1', port: 0, ...overrides.api },
    store: { path: join(dir.path, 'presence.db'), ...overrides.store },
    reconcile: { settleMs: 200, graceMs: 500, confirmDelayMs: 300, ...overrides.reconcile },
    poll: { enabled: false, ...overrides.poll },
  };
  const config = configSchema.parse(input);
  const daemon = await startDaemon(config, { logger: pino({ level: 'silent' }) });
  return Object.assign(daemon, { dir: dir.path, cleanupDir: dir.cleanup });
}

/** A webhook body exactly as OpenIM 3.8.x sends it (compact JSON, trailing newline). */
export function webhookBody(
  command: 'callbackAfterUserOnlineCommand' | 'callbackAfterUserOfflineCommand' | 'callbackAfterUserKickOffCommand',
  userID: string,
  platformID: number,
  seq: number,
  operationID = `p_1_${seq}`,
): string {
  const platform = ({ 1: 'IOS', 2: 'Android', 5: 'Web' } as Record<number, string>)[platformID] ?? '';
  if (command === 'callbackAfterUserOnlineCommand') {
    return JSON.stringify({ callbackCommand: command, operationID, platformID, platform, userID, seq, isAppBackground: false, connID: '' }) + '\n';
  }
  if (command === 'callbackAfterUserOfflineCommand') {
    return JSON.stringify({ callbackCommand: command, operationID, platformID, platform, userID, seq, connID: '' }) + '\n';
  }
  return JSON.stringify({ callbackCommand: command, operationID, platformID, platform, userID, seq }) + '\n';
}

export async function postWebhook(
  daemon: Daemon,
  command: string,
  body: string,
  headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' },
): Promise<{ status: number; body: string }> {
  const res = await fetch(`${daemon.webhookUrl}/${command}`, { method: 'POST', headers, body });
  return { status: res.status, body: await res.text() };
}

/** Posts an online webhook of `userID` on platform 1 (IOS) with `seq`, as OpenIM 3.8.x sends it. */
export function postOnline(daemon: Daemon, userID: string, seq: number): Promise<{ status: number; body: string }> {
  return postWebhook(daemon, 'callbackAfterUserOnlineCommand', webhookBody('callbackAfterUserOnlineCommand', userID, 1, seq));
}

/** Helpers shared by the operator API tests: mismatch records with known fields and small HTTP calls. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { NewMismatch } from '../../src/domain.js';

export const HOUR = 3_600_000;

/** A mismatch with every field set; override what the test is about. */
export function newMismatch(over: Partial<NewMismatch> & { userID: string }): NewMismatch {
  const detectedAt = over.detectedAt ?? Date.now();
  return {
    kind: 'missed_offline',
    platformID: 5,
    platform: 'Web',
    detectedAt,
    occurredAfter: detectedAt - 30_000,
    occurredBefore: detectedAt - 5_000,
    eventSeq: null,
    lateByMs: null,
    lateAt: null,
    status: 'open',
    shadow: false,
    evidence: [{ at: detectedAt - 5_000, what: 'poll', ref: 1, detail: 'poll read offline' }],
    note: '',
    updatedAt: detectedAt,
    ...over,
  };
}

export interface JsonAnswer<T = Record<string, unknown>> {
  status: number;
  body: T;
}

export async function getJson<T = Record<string, unknown>>(url: string): Promise<JsonAnswer<T>> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T };
}

export async function postJson<T = Record<string, unknown>>(url: string, body?: unknown): Promise<JsonAnswer<T>> {
  const init: RequestInit = { method: 'POST' };
  if (body !== undefined) {
    init.headers = { 'content-type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as T };
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `openim-presence <args>` as a real subprocess (`node --import tsx src/cli.ts`). Asynchronous on purpose: the
 * test daemon answering it lives in this process.
 */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI_PATH, ...args], {
      cwd: REPO_ROOT,
      env: { ...cleanEnv(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI_PATH = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

/** The environment without OPR_* variables, so the developer's own configuration cannot leak into a test. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OPR_')));
}

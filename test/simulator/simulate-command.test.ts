import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/simulate-cli.ts', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
  kill: (signal: NodeJS.Signals) => void;
}

function run(args: string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, 'simulate', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { stdout: () => stdout, stderr: () => stderr, exit, kill: (s) => child.kill(s) };
}

describe('openim-presence simulate', () => {
  it.each([
    [['--users', 'lots'], /--users <n>' argument 'lots' is invalid/],
    [['--loss', '1.5'], /--loss <p>' argument '1.5' is invalid. expected a probability from 0 to 1/],
    [['--openim-version', '3.9.0'], /--openim-version <v>' argument '3.9.0' is invalid/],
    [['--webhook-url', 'ftp://x'], /--webhook-url <url>' argument 'ftp:\/\/x' is invalid/],
    [['--speed', '0'], /--speed <x>' argument '0' is invalid/],
    [['--bogus'], /unknown option '--bogus'/],
  ])('rejects %j with a message naming the option and exit code 2', async (args, message) => {
    const r = run(args);
    expect(await r.exit).toBe(2);
    expect(r.stderr()).toMatch(message);
  });

  it('prints the API URL, the admin secret and the control URL, serves them, and stops cleanly on Ctrl-C', async () => {
    const r = run(['--port', '0', '--users', '50', '--gateways', '1', '--speed', '30', '--seed', '3']);
    const started = performance.now();
    while (!r.stdout().includes('control URL') && performance.now() - started < 15_000) await new Promise((res) => setTimeout(res, 20));
    const apiUrl = /API URL:\s+(\S+)/.exec(r.stdout())?.[1];
    const controlUrl = /control URL:\s+(\S+)/.exec(r.stdout())?.[1];
    expect(r.stdout()).toMatch(/admin secret: openIM123/);
    expect(apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(controlUrl).toBe(`${apiUrl!}/control`);
    const token = await fetch(`${apiUrl!}/auth/get_admin_token`, {
      method: 'POST',
      headers: { operationID: 'cli-test' },
      body: JSON.stringify({ secret: 'openIM123', userID: 'imAdmin' }),
    });
    expect(((await token.json()) as { errCode: number }).errCode).toBe(0);
    const info = (await (await fetch(controlUrl!)).json()) as { users: number; speed: number; seed: number };
    expect(info).toMatchObject({ users: 50, speed: 30, seed: 3 });
    r.kill('SIGINT');
    expect(await r.exit).toBe(0);
    expect(r.stdout()).toMatch(/stopping the simulator/);
  });
});

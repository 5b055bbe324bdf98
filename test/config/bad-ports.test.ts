import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_API_PORT } from '../../src/cli/demo-command.js';
import { badPortOfUrl, blockedPortWarnings, FETCH_BAD_PORTS, isFetchBadPort, portOfUrl } from '../../src/config/bad-ports.js';
import { describeConfigKeys } from '../../src/config/config-reference.js';
import { configSchema } from '../../src/config/schema.js';

const EXAMPLE_PRODUCTION = fileURLToPath(new URL('../../config/example-production.yaml', import.meta.url));

/** Why Node's fetch refused a URL, or undefined when it tried to connect (and got an answer or a refusal). */
async function fetchRefusal(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    await res.body?.cancel();
    return undefined;
  } catch (err) {
    const cause = (err as Error).cause as { message?: string } | undefined;
    return cause?.message === 'bad port' ? 'bad port' : undefined;
  }
}

/** Every port the configuration schema uses by default: `*.port` keys and the ports of default URLs. */
function defaultPorts(): { path: string; port: number }[] {
  const ports: { path: string; port: number }[] = [];
  for (const key of describeConfigKeys()) {
    if (!key.hasDefault) continue;
    if (key.kind === 'number' && /(^|\.)port$/i.test(key.path)) ports.push({ path: key.path, port: key.defaultValue as number });
    if (key.kind === 'string' && typeof key.defaultValue === 'string' && /^https?:\/\//.test(key.defaultValue)) {
      const port = portOfUrl(key.defaultValue);
      if (port !== undefined) ports.push({ path: key.path, port });
    }
  }
  return ports;
}

describe("the Fetch standard's bad ports", () => {
  it('are exactly the ports Node\'s fetch refuses to connect to (checked on loopback, nothing is sent)', async () => {
    const refused: number[] = [];
    for (const port of FETCH_BAD_PORTS) if ((await fetchRefusal(`http://127.0.0.1:${port}/`)) !== undefined) refused.push(port);
    expect(refused).toEqual([...FETCH_BAD_PORTS]);
    // A neighbour of the best-known one is allowed: fetch tries to connect and gets an answer or a refusal.
    expect(await fetchRefusal('http://127.0.0.1:10081/')).toBeUndefined();
    expect(isFetchBadPort(10081)).toBe(false);
  });

  it('include 10080, the old default api.port', () => {
    expect(isFetchBadPort(10080)).toBe(true);
    expect(badPortOfUrl('http://127.0.0.1:10080/x')).toBe(10080);
    expect(badPortOfUrl('https://example.com')).toBeUndefined();
  });
});

describe('the default ports', () => {
  it('cover the API, the webhook listener and OpenIM', () => {
    expect(defaultPorts().map((p) => p.path)).toEqual(expect.arrayContaining(['api.port', 'webhook.port', 'openim.apiUrl']));
  });

  it('are all outside the bad-port list: every port of the configuration schema', () => {
    expect(defaultPorts().filter((p) => isFetchBadPort(p.port))).toEqual([]);
  });

  it('are outside the list in config/example-production.yaml and for the demo', () => {
    const example = parse(readFileSync(EXAMPLE_PRODUCTION, 'utf8')) as { api: { port: number }; webhook: { port: number; publicUrl: string } };
    expect([example.api.port, example.webhook.port, portOfUrl(example.webhook.publicUrl)].filter((p) => p === undefined || isFetchBadPort(p))).toEqual([]);
    expect(DEFAULT_API_PORT).toBe(configSchema.parse({}).api.port);
    expect(isFetchBadPort(DEFAULT_API_PORT)).toBe(false);
  });

  it('raise no warning, while a blocked api.port, webhook.port or subscriber URL each do', () => {
    expect(blockedPortWarnings(configSchema.parse({}))).toEqual([]);
    const warnings = blockedPortWarnings(
      configSchema.parse({
        api: { port: 10080 },
        webhook: { port: 6000 },
        subscribers: [{ name: 'ok', url: 'http://10.0.0.1:8080/in' }, { name: 'irc', url: 'http://10.0.0.1:6667/in' }],
      }),
    );
    expect(warnings.map((w) => [w.path, w.value])).toEqual([
      ['api.port', 10080],
      ['webhook.port', 6000],
      ['subscribers.1.url', 6667],
    ]);
    expect(warnings[0]?.message).toContain('the dashboard cannot be opened');
  });
});

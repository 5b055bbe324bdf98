/**
 * The webhook listener over real loopback HTTP (docs/openim-contract.md, presence webhooks): what OpenIM sends is accepted with the exact reply it
 * expects, and every refusal is OpenIM-shaped and leaves the database untouched.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon/daemon.js';
import type { WebhookCommand } from '../../src/openim/webhook-schemas.js';
import { WEBHOOK_COMMANDS } from '../../src/openim/webhook-schemas.js';
import { TEST_PATH_SECRET, postWebhook, startTestDaemon, webhookBody } from '../helpers/daemon-fixture.js';
import { freePort } from '../helpers/free-port.js';

const SUCCESS = '{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}';
const ONLINE = 'callbackAfterUserOnlineCommand';
const OFFLINE = 'callbackAfterUserOfflineCommand';
/** The headers a 3.8.x gateway sends. */
const OPENIM_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  operationid: 'p_4242_17',
  'user-agent': 'Go-http-client/1.1',
  'accept-encoding': 'gzip',
};

type TestDaemon = Daemon & { cleanupDir: () => void };

let daemon: TestDaemon | undefined;
afterEach(async () => {
  await daemon?.close();
  daemon?.cleanupDir();
  daemon = undefined;
});

async function start(overrides: Parameters<typeof startTestDaemon>[0] = {}): Promise<TestDaemon> {
  daemon = await startTestDaemon(overrides);
  return daemon;
}

function snapshot(d: Daemon): { receipts: number; head: number; keys: number } {
  return { receipts: d.store.countReceipts(), head: d.store.headSeq(), keys: d.store.loadKeys().length };
}

/** Asserts the reply is OpenIM's error envelope and returns its errMsg. */
function openImError(body: string): string {
  const parsed = JSON.parse(body) as Record<string, unknown>;
  expect(Object.keys(parsed).sort()).toEqual(['actionCode', 'errCode', 'errDlt', 'errMsg', 'nextCode']);
  expect(parsed.errCode).not.toBe(0);
  expect(parsed.errMsg).toBeTypeOf('string');
  expect(parsed.errMsg).not.toBe('');
  return parsed.errMsg as string;
}

async function post(url: string, body: string, headers: Record<string, string> = OPENIM_HEADERS): Promise<{ status: number; body: string; contentType: string }> {
  const res = await fetch(url, { method: 'POST', headers, body });
  return { status: res.status, body: await res.text(), contentType: res.headers.get('content-type') ?? '' };
}

/** Posts `body` and checks that the reply is the given OpenIM-shaped refusal and that nothing was stored. */
async function expectRefused(d: Daemon, url: string, body: string, status: number, headers: Record<string, string> = OPENIM_HEADERS): Promise<string> {
  const before = snapshot(d);
  const res = await post(url, body, headers);
  expect(res.status).toBe(status);
  expect(res.contentType).toMatch(/^application\/json/);
  const errMsg = openImError(res.body);
  expect(snapshot(d)).toEqual(before);
  return errMsg;
}

describe('the webhook listener', () => {
  describe('when OpenIM posts one of the three presence commands', () => {
    it.each(WEBHOOK_COMMANDS.map((c) => [c]))('accepts %s with the exact success body and records the body as received', async (command: WebhookCommand) => {
      const d = await start();
      const body = webhookBody(command, 'u1', 5, Date.now() - 100);
      const res = await post(`${d.webhookUrl}/${command}`, body);
      expect(res).toEqual({ status: 200, body: SUCCESS, contentType: 'application/json; charset=utf-8' });
      const [r] = d.store.receiptsForUser('u1', 0, 10);
      expect(r).toMatchObject({ command, userID: 'u1', platformID: 5, body });
    });

    it('turns an online into a stream event and an offline into a held one', async () => {
      const d = await start();
      const t = Date.now();
      expect((await post(`${d.webhookUrl}/${ONLINE}`, webhookBody(ONLINE, 'u1', 5, t - 100))).status).toBe(200);
      expect((await post(`${d.webhookUrl}/${OFFLINE}`, webhookBody(OFFLINE, 'u1', 5, t))).status).toBe(200);
      expect(d.store.headSeq()).toBe(1);
      expect(d.engine.key('u1', 5)?.pendingOffline).not.toBeNull();
    });

    it('acknowledges a replay of the same webhook without recording it twice', async () => {
      const d = await start();
      const body = webhookBody(ONLINE, 'u1', 5, Date.now());
      expect((await post(`${d.webhookUrl}/${ONLINE}`, body)).body).toBe(SUCCESS);
      expect((await post(`${d.webhookUrl}/${ONLINE}`, body)).body).toBe(SUCCESS);
      expect(snapshot(d)).toMatchObject({ receipts: 1, head: 1 });
    });
  });

  describe('when an older server puts the command in ?command=', () => {
    it('accepts it', async () => {
      const d = await start();
      const res = await post(`${d.webhookUrl}?command=${ONLINE}`, webhookBody(ONLINE, 'u1', 5, Date.now()));
      expect(res.status).toBe(200);
      expect(res.body).toBe(SUCCESS);
      expect(d.store.countReceipts()).toBe(1);
    });

    it('refuses an unknown command there with 404', async () => {
      const d = await start();
      const errMsg = await expectRefused(d, `${d.webhookUrl}?command=callbackBeforeSendSingleMsgCommand`, webhookBody(ONLINE, 'u1', 5, 1), 404);
      expect(errMsg).toContain('callbackBeforeSendSingleMsgCommand');
    });

    it('refuses a missing command with 404', async () => {
      const d = await start();
      await expectRefused(d, d.webhookUrl, webhookBody(ONLINE, 'u1', 5, 1), 404);
    });
  });

  describe('when OpenIM’s url ends in a slash (/<secret>//<command>)', () => {
    it('accepts the doubled slash', async () => {
      const d = await start();
      const res = await post(`${d.webhookUrl}//${ONLINE}`, webhookBody(ONLINE, 'u1', 5, Date.now()));
      expect(res.status).toBe(200);
      expect(res.body).toBe(SUCCESS);
      expect(d.store.countReceipts()).toBe(1);
    });
  });

  describe('when the body is not valid JSON', () => {
    it.each([
      ['truncated JSON', '{"callbackCommand":"callbackAfterUserOnlineCommand","userID":"u1"'],
      ['an empty body', ''],
      ['plain text', 'hello'],
    ])('answers 400 for %s and stores nothing', async (_name, body) => {
      const d = await start();
      const errMsg = await expectRefused(d, `${d.webhookUrl}/${ONLINE}`, body, 400);
      expect(errMsg).toMatch(/JSON/);
    });
  });

  describe('when the body is JSON but not an object', () => {
    it.each([['null'], ['[1,2]'], ['"text"'], ['42']])('answers 400 for %s', async (body) => {
      const d = await start();
      await expectRefused(d, `${d.webhookUrl}/${ONLINE}`, body, 400);
    });
  });

  describe('when a field has the wrong type', () => {
    it.each([
      ['platformID', '5'],
      ['platformID', 5.5],
      ['seq', 'abc'],
      ['seq', -1],
      ['userID', 42],
      ['userID', ''],
      ['operationID', 17],
      ['isAppBackground', 'no'],
    ])('answers 400 naming %s (%j)', async (field, value) => {
      const d = await start();
      const body = { ...(JSON.parse(webhookBody(ONLINE, 'u1', 5, Date.now())) as Record<string, unknown>), [field]: value };
      const errMsg = await expectRefused(d, `${d.webhookUrl}/${ONLINE}`, JSON.stringify(body), 400);
      expect(errMsg).toContain(field);
    });
  });

  describe('when userID is missing', () => {
    it('answers 400 naming userID', async () => {
      const d = await start();
      const { userID: _u, ...body } = JSON.parse(webhookBody(OFFLINE, 'u1', 5, Date.now())) as Record<string, unknown>;
      expect(await expectRefused(d, `${d.webhookUrl}/${OFFLINE}`, JSON.stringify(body), 400)).toContain('userID');
    });
  });

  describe('when the body is larger than webhook.bodyLimitBytes', () => {
    it('answers 413 and stores nothing', async () => {
      const d = await start({ webhook: { bodyLimitBytes: 1024 } });
      const body = JSON.stringify({ ...(JSON.parse(webhookBody(ONLINE, 'u1', 5, Date.now())) as object), pad: 'x'.repeat(2000) });
      await expectRefused(d, `${d.webhookUrl}/${ONLINE}`, body, 413);
    });

    it('still accepts a body just under the limit', async () => {
      const d = await start({ webhook: { bodyLimitBytes: 1024 } });
      const base = webhookBody(ONLINE, 'u1', 5, Date.now());
      const body = JSON.stringify({ ...(JSON.parse(base) as object), pad: 'x'.repeat(1024 - base.length - 12) });
      expect(Buffer.byteLength(body)).toBeLessThanOrEqual(1024);
      expect((await post(`${d.webhookUrl}/${ONLINE}`, body)).status).toBe(200);
    });
  });

  describe('when the content type is not JSON', () => {
    it.each([['text/plain'], ['application/x-www-form-urlencoded'], ['application/jsonp']])('answers 415 for %s', async (contentType) => {
      const d = await start();
      const errMsg = await expectRefused(d, `${d.webhookUrl}/${ONLINE}`, webhookBody(ONLINE, 'u1', 5, Date.now()), 415, { 'content-type': contentType });
      expect(errMsg).toContain('application/json');
    });

    it('accepts application/json with or without a charset, in any case', async () => {
      const d = await start();
      const t = Date.now();
      for (const [i, contentType] of ['application/json', 'Application/JSON;charset=UTF-8'].entries()) {
        expect((await post(`${d.webhookUrl}/${ONLINE}`, webhookBody(ONLINE, `u${i}`, 5, t), { 'content-type': contentType })).status).toBe(200);
      }
    });
  });

  describe('when the path secret is wrong', () => {
    const wrongSecrets = ['wrong-secret-0123', TEST_PATH_SECRET.slice(0, -1), TEST_PATH_SECRET.toUpperCase(), 'x'];

    it.each(wrongSecrets.map((s) => [s]))('answers /%s/<command> exactly like a path that does not exist', async (secret) => {
      const d = await start();
      const origin = new URL(d.webhookUrl).origin;
      const before = snapshot(d);
      const res = await post(`${origin}/${secret}/${ONLINE}`, webhookBody(ONLINE, 'u1', 5, Date.now()));
      const unknown = await post(`${origin}/${secret}/no-such-thing`, webhookBody(ONLINE, 'u1', 5, Date.now()));
      expect(res.status).toBe(404);
      expect(res.body).not.toContain(TEST_PATH_SECRET);
      expect(res.body).not.toMatch(/webhook/i);
      expect(res.body.replace(ONLINE, 'no-such-thing')).toBe(unknown.body);
      expect(snapshot(d)).toEqual(before);
    });

    it('says nothing more for the ?command= form', async () => {
      const d = await start();
      const origin = new URL(d.webhookUrl).origin;
      const res = await post(`${origin}/wrong-secret-0123?command=${ONLINE}`, webhookBody(ONLINE, 'u1', 5, Date.now()));
      expect(res.status).toBe(404);
      expect(res.body).not.toMatch(/webhook|actionCode/i);
    });

    it('does not read the body first: an oversized or mistyped post is still a plain 404', async () => {
      const d = await start({ webhook: { bodyLimitBytes: 1024 } });
      const origin = new URL(d.webhookUrl).origin;
      const big = await post(`${origin}/wrong-secret-0123/${ONLINE}`, 'x'.repeat(4096));
      expect(big.status).toBe(404);
      expect(big.body).not.toMatch(/actionCode|too large/i);
      const typed = await post(`${origin}/wrong-secret-0123/${ONLINE}`, 'x', { 'content-type': 'text/plain' });
      expect(typed.status).toBe(404);
      expect(typed.body).not.toMatch(/actionCode/);
    });
  });

  describe('when the command is unknown', () => {
    it('answers 404 in OpenIM’s shape, naming the command', async () => {
      const d = await start();
      const errMsg = await expectRefused(d, `${d.webhookUrl}/callbackAfterUserLoginCommand`, webhookBody(ONLINE, 'u1', 5, Date.now()), 404);
      expect(errMsg).toContain('callbackAfterUserLoginCommand');
    });
  });

  describe('when the body’s callbackCommand differs from the command in the URL', () => {
    it('answers 400 naming both', async () => {
      const d = await start();
      const errMsg = await expectRefused(d, `${d.webhookUrl}/${OFFLINE}`, webhookBody(ONLINE, 'u1', 5, Date.now()), 400);
      expect(errMsg).toContain(ONLINE);
      expect(errMsg).toContain(OFFLINE);
    });

    it('answers 400 when callbackCommand is missing', async () => {
      const d = await start();
      const { callbackCommand: _c, ...body } = JSON.parse(webhookBody(ONLINE, 'u1', 5, Date.now())) as Record<string, unknown>;
      expect(await expectRefused(d, `${d.webhookUrl}/${ONLINE}`, JSON.stringify(body), 400)).toContain('callbackCommand');
    });
  });

  describe('the source address allowlist', () => {
    it('refuses 127.0.0.1 with 403 when only 10.0.0.0/8 may post', async () => {
      const d = await start({ webhook: { allowlist: ['10.0.0.0/8'] } });
      expect(await expectRefused(d, `${d.webhookUrl}/${ONLINE}`, webhookBody(ONLINE, 'u1', 5, Date.now()), 403)).toMatch(/not allowed/);
    });

    it('refuses before reading the body: an oversized post from a refused address gets 403, not 413', async () => {
      const d = await start({ webhook: { allowlist: ['10.0.0.0/8'], bodyLimitBytes: 1024 } });
      await expectRefused(d, `${d.webhookUrl}/${ONLINE}`, 'x'.repeat(4096), 403);
    });

    it.each([[['127.0.0.1/32']], [['127.0.0.1']], [['10.0.0.0/8', '127.0.0.0/8']], [['::1/128', '127.0.0.1/32']]])('accepts 127.0.0.1 with %j', async (allowlist) => {
      const d = await start({ webhook: { allowlist } });
      const res = await post(`${d.webhookUrl}/${ONLINE}`, webhookBody(ONLINE, 'u1', 5, Date.now()));
      expect(res.status).toBe(200);
      expect(d.store.countReceipts()).toBe(1);
    });
  });

  describe('under a burst larger than webhook.queueLimit', () => {
    it('refuses the excess with 503 and stores every webhook it acknowledged, and only those', async () => {
      const d = await start({ webhook: { queueLimit: 2, commitMaxDelayMs: 30 } });
      const t = Date.now();
      const bodies = Array.from({ length: 60 }, (_, i) => webhookBody(ONLINE, `burst-${i}`, 5, t - i));
      const results = await Promise.all(bodies.map((body) => post(`${d.webhookUrl}/${ONLINE}`, body)));
      const accepted = results.map((r, i) => (r.status === 200 ? bodies[i]! : undefined)).filter((b) => b !== undefined);
      const refused = results.filter((r) => r.status === 503);
      expect(accepted.length + refused.length).toBe(bodies.length);
      expect(refused.length).toBeGreaterThan(0);
      expect(accepted.length).toBeGreaterThan(0);
      for (const r of refused) expect(openImError(r.body)).toMatch(/overloaded/);
      for (const r of results.filter((x) => x.status === 200)) expect(r.body).toBe(SUCCESS);
      expect(d.store.countReceipts()).toBe(accepted.length);
      const stored = new Set(bodies.flatMap((_b, i) => d.store.receiptsForUser(`burst-${i}`, 0, 10).map((r) => r.body)));
      expect(new Set(accepted)).toEqual(stored);
    });
  });

  describe('when the database fails under it', () => {
    it('answers 500 in OpenIM’s shape and acknowledges nothing', async () => {
      const d = await start();
      d.store.close();
      const res = await post(`${d.webhookUrl}/${ONLINE}`, webhookBody(ONLINE, 'u1', 5, Date.now()));
      expect(res.status).toBe(500);
      expect(openImError(res.body)).toBe('internal error');
    });
  });

  describe('the listener’s port', () => {
    it('is separate from the API port by default: neither serves the other’s routes', async () => {
      const d = await start();
      const hook = new URL(d.webhookUrl);
      const api = new URL(d.apiUrl);
      expect(hook.port).not.toBe(api.port);
      expect((await post(`${d.apiUrl}/${TEST_PATH_SECRET}/${ONLINE}`, webhookBody(ONLINE, 'u1', 5, Date.now()))).status).toBe(404);
      expect((await fetch(`${hook.origin}/v1/events`)).status).toBe(404);
      expect((await post(`${d.webhookUrl}/${ONLINE}`, webhookBody(ONLINE, 'u1', 5, Date.now()))).status).toBe(200);
      expect((await fetch(`${d.apiUrl}/v1/events?after=0`)).status).toBe(200);
    });

    it('is shared with the API when both are configured on the same port', async () => {
      const port = await freePort();
      const d = await start({ webhook: { port }, api: { port } });
      expect(new URL(d.webhookUrl).port).toBe(String(port));
      expect(new URL(d.apiUrl).port).toBe(String(port));
      expect((await postWebhook(d, ONLINE, webhookBody(ONLINE, 'u1', 5, Date.now()))).body).toBe(SUCCESS);
      const page = (await (await fetch(`${d.apiUrl}/v1/events?after=0`)).json()) as { events: { userID: string }[] };
      expect(page.events.map((e) => e.userID)).toEqual(['u1']);
      // A wrong secret on the shared port looks like any unknown API path.
      const res = await post(`${d.apiUrl}/wrong-secret-0123/${ONLINE}`, webhookBody(ONLINE, 'u1', 5, Date.now()));
      expect(res.status).toBe(404);
      expect(res.body).not.toMatch(/webhook|actionCode/i);
    });
  });
});

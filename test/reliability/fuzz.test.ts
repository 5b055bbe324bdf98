/**
 * Fuzzing the two HTTP surfaces with fast-check (seeded; RELIABILITY_SEED overrides): the webhook listener and the
 * `/v1` API, over real loopback HTTP with keep-alive and bounded concurrency, plus raw bytes on bare sockets.
 * Cases are generated with `fc.sample` (seeded) and run 16 at a time; a failing case is printed whole.
 *
 * For every case: the daemon answers (the process stays up), never with 5xx; bad input gets 4xx; and the database is
 * unchanged afterwards (receipts, events, mismatches, head seq, presence keys, tracked users), so input that looks
 * valid but is not is never stored. Every webhook case is invalid by construction: wrong secret, method, command or
 * content type, or a body that breaks the documented shape in at least one field.
 */
import fc from 'fast-check';
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/daemon/daemon.js';
import { TEST_PATH_SECRET, startTestDaemon } from '../helpers/daemon-fixture.js';
import { ONLINE, OFFLINE, sleep, webhookJson } from './helpers.js';

const SEED = Number(process.env.RELIABILITY_SEED ?? 20_251_128);
const CASES = Number(process.env.FUZZ_CASES ?? 10_000);
const CONCURRENCY = Number(process.env.FUZZ_CONCURRENCY ?? 16);
const KICK = 'callbackAfterUserKickOffCommand';
const COMMANDS = [ONLINE, OFFLINE, KICK] as const;
const BODY_LIMIT = 4096;

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
  label: string;
}

interface Answer {
  status: number;
  contentType: string;
  body: string;
}

let daemon: (Daemon & { cleanupDir: () => void }) | undefined;
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

beforeAll(async () => {
  daemon = await startTestDaemon({
    webhook: { bodyLimitBytes: BODY_LIMIT },
    api: { maxWaitSeconds: 1, maxPageSize: 500, sseHeartbeatSeconds: 1 },
    reconcile: { settleMs: 100 },
  });
  // Some data for the API to page through: users going online, some offline again, and mismatches to review.
  const t = Date.now();
  for (let i = 0; i < 60; i++) {
    const command = i < 40 ? ONLINE : OFFLINE;
    const res = await fetch(`${daemon.webhookUrl}/${command}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: webhookJson(command, `fz-u${i % 40}`, 1 + (i % 3), t + i, `p_1_${i}`),
    });
    expect(res.status).toBe(200);
  }
  for (let i = 0; i < 3; i++) {
    daemon.store.insertMismatch({
      kind: 'missed_offline', userID: `fz-u${i}`, platformID: 5, platform: 'Web', detectedAt: t, occurredAfter: null, occurredBefore: t,
      eventSeq: null, lateByMs: null, lateAt: null, status: 'open', shadow: false, evidence: [{ at: t, what: 'note', detail: '<b>fixture</b>' }], note: '', updatedAt: t,
    });
  }
  for (let i = 0; i < 50 && daemon.engine.heldCount() > 0; i++) await sleep(50);
  expect(daemon.engine.heldCount()).toBe(0);
});

afterAll(async () => {
  agent.destroy();
  await daemon?.close();
  daemon?.cleanupDir();
});

function dbState(d: Daemon): Record<string, number> {
  return {
    receipts: d.store.countReceipts(),
    head: d.store.headSeq(),
    events: d.store.readEvents(0, 100_000).length,
    mismatches: d.store.listMismatches({ limit: 100_000 }).length,
    keys: d.engine.keyCount(),
    tracked: d.store.countTrackedUsers(),
  };
}

/** Characters outside 0x21-0xff cannot go in a request line: percent-encode them (space, controls, above 0xff). */
function wirePath(path: string): string {
  return path.replace(/[^\u0021-\u00ff]/g, (c) => encodeURIComponent(c));
}

function send(base: string, r: FuzzRequest, fresh = false): Promise<Answer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, method: r.method, path: wirePath(r.path), headers: r.headers, agent: fresh ? false : agent, timeout: 5000 },
      (res) => {
        const contentType = res.headers['content-type'] ?? '';
        if (contentType.startsWith('text/event-stream')) {
          // A valid stream request: the answer is the stream; take its status and hang up.
          res.destroy();
          resolve({ status: res.statusCode ?? 0, contentType, body: '' });
          return;
        }
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c.length + body.length > 4096 ? '' : c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(r.body);
  });
}

/** Sends the request as raw bytes (path in latin1, as node's client does) and returns the answer's status. */
function rawStatus(base: string, r: FuzzRequest): Promise<number> {
  const url = new URL(base);
  return new Promise((resolve) => {
    const headers = Object.entries(r.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    const sock = net.connect(Number(url.port), url.hostname, () => {
      sock.end(Buffer.from(`${r.method} ${wirePath(r.path)} HTTP/1.1\r\nHost: ${url.host}\r\n${headers}content-length: ${Buffer.byteLength(r.body ?? '')}\r\n\r\n${r.body ?? ''}`, 'latin1'));
    });
    let head = '';
    const done = (status: number): void => {
      sock.destroy();
      resolve(status);
    };
    sock.setTimeout(5000, () => done(-1));
    sock.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (m) done(Number(m[1]));
    });
    sock.on('error', () => done(-1));
    sock.on('close', () => done(-1));
  });
}

/** Runs the cases with bounded concurrency; returns the status counts and the first failures. */
async function runCases(
  base: string,
  cases: readonly FuzzRequest[],
  ok: (a: Answer) => boolean,
): Promise<{ statuses: Map<number, number>; failures: string[]; retries: number }> {
  const statuses = new Map<number, number>();
  const failures: string[] = [];
  let retries = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < cases.length) {
        const c = cases[next++]!;
        let a: Answer;
        try {
          a = await send(base, c);
        } catch (first) {
          // Node's client refuses to send some generated requests at all (never reaching the server): not a case.
          const code = (first as { code?: string }).code ?? '';
          if (code === 'ERR_UNESCAPED_CHARACTERS' || code === 'ERR_INVALID_CHAR' || code === 'ERR_INVALID_HTTP_TOKEN') {
            statuses.set(-2, (statuses.get(-2) ?? 0) + 1);
            continue;
          }
          // A kept-alive socket the server closed after an earlier answer: the same request on a fresh connection.
          // (Found by this suite: a request line with bytes above 0x7f, which llhttp rejects, gets fastify's default
          // clientError answer, a 400 without `Connection: close` followed by a reset, so the client reuses a dead
          // socket for its next request. OpenIM never sends such bytes; see the README, section "Reliability".)
          retries++;
          try {
            a = await send(base, c, true);
          } catch (e) {
            // Node's server answers a request line it cannot parse with a 400 that carries a body, which a HEAD
            // client cannot parse: read the status line off a raw socket instead.
            const hpe = ((e as { code?: string }).code ?? '').startsWith('HPE_');
            a = hpe ? { status: await rawStatus(base, c), contentType: '', body: String(e) } : { status: -1, contentType: '', body: String(e) };
          }
        }
        statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
        if (!ok(a) && failures.length < 5) {
          failures.push(`${c.label}: ${c.method} ${c.path} ${JSON.stringify(c.headers)} body=${JSON.stringify(c.body?.slice(0, 300))} → ${a.status} ${a.body.slice(0, 200)}`);
        }
      }
    }),
  );
  return { statuses, failures, retries };
}

const fmt = (m: Map<number, number>): string => [...m].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}:${n}`).join(' ');

// --- generators ---------------------------------------------------------------------------------------------------

/** Characters node's client accepts in a request path (0x21-0xff). */
const pathChar = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...Array.from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~')) },
  { weight: 2, arbitrary: fc.constantFrom('/', '//', '%', '%2F', '%00', '%zz', '%c0%af', '..', '?', '#', '&', '=', ';', ':', '@', '+', '*', '$', '!', '[', ']', '{', '}', '|', '\\', '^', '`', '"', "'", '<', '>') },
  { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)) },
);
const segment = fc.array(pathChar, { minLength: 1, maxLength: 24 }).map((cs) => cs.join(''));
const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 });
const tokenName = fc.string({ unit: fc.constantFrom(...Array.from('abcdefghijklmnopqrstuvwxyz-_0123456789!#$%&*+.^`|~')), minLength: 1, maxLength: 20 });
const FORBIDDEN_HEADERS = new Set(['content-length', 'transfer-encoding', 'host', 'connection', 'expect', 'upgrade', 'te', 'keep-alive', 'trailer']);
const extraHeaders = fc
  .dictionary(
    fc.oneof(tokenName, fc.constantFrom('operationid', 'user-agent', 'accept-encoding', 'x-forwarded-for', 'authorization', 'token', 'cookie', 'last-event-id', 'accept', 'origin', 'range')),
    printable,
    { maxKeys: 4 },
  )
  .map((h) => Object.fromEntries(Object.entries(h).filter(([k]) => !FORBIDDEN_HEADERS.has(k.toLowerCase()))));

const queryValue = fc.oneof(
  fc.integer().map(String),
  fc.constantFrom('', '0', '-1', '1e309', 'NaN', '9007199254740993', '1.5', '0x10', ' 1', '%00', '%zz', 'null', 'true', '[]', '{}'),
  fc.constantFrom('90s', '15m', '24h', '7d', '-5m', '99999999d', '0s', '2026-11-28T10:00:00Z', '2026-13-45T99:99:99Z', '1732530000123'),
  fc.array(segment, { maxLength: 30 }).map((xs) => xs.join(',')),
  segment,
);
const queryKey = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('after', 'limit', 'wait', 'users', 'types', 'kind', 'status', 'user', 'platform', 'since', 'until', 'before', 'top', 'bucket', 'at', 'online', 'access_token', 'command', 'format') },
  { weight: 1, arbitrary: segment },
);
const queryString = fc
  .array(fc.tuple(queryKey, queryValue), { maxLength: 5 })
  .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`));

// webhook bodies

const knownKeys = new Set(['callbackCommand', 'operationID', 'platformID', 'platform', 'userID', 'seq', 'isAppBackground', 'connID']);
type Body = Record<string, unknown>;
type Mutation = (b: Body, command: string) => void;

function validObject(command: string, user: string, platformID: number, seq: number): Body {
  return JSON.parse(webhookJson(command === KICK ? OFFLINE : command, user, platformID, seq, `p_9_${seq}`)) as Body;
}

const otherThan = (command: string): fc.Arbitrary<unknown> =>
  fc.oneof(fc.constantFrom(...COMMANDS.filter((c) => c !== command)), fc.string({ maxLength: 40 }).filter((s) => s !== command), fc.constantFrom(null, 1, true, [], {}));

/** Mutations that each make a body invalid for its command, whatever else is in it. */
function invalidating(command: string): fc.Arbitrary<Mutation> {
  const set = (key: string, values: fc.Arbitrary<unknown>): fc.Arbitrary<Mutation> => values.map((v) => (b: Body) => void (b[key] = v));
  const drop = (key: string): fc.Arbitrary<Mutation> =>
    fc.constant((b: Body) => {
      Reflect.deleteProperty(b, key);
    });
  const muts: fc.Arbitrary<Mutation>[] = [
    otherThan(command).map((v) => (b: Body) => void (b.callbackCommand = v)),
    drop('callbackCommand'),
    set('userID', fc.constantFrom('', 'x'.repeat(257), 5, null, true, ['u1'], { id: 'u1' })),
    drop('userID'),
    set('platformID', fc.constantFrom(-1, 1.5, 1_000_001, '5', null, true, 1e300, [5])),
    drop('platformID'),
    set('seq', fc.constantFrom(-1, 0.5, '1732530000123', null, false, 2 ** 64, { t: 1 })),
    drop('seq'),
    set('operationID', fc.constantFrom(123, 'o'.repeat(513), null, [], {})),
    set('platform', fc.constantFrom('p'.repeat(65), 5, null, false)),
  ];
  if (command !== KICK) muts.push(set('connID', fc.constantFrom('c'.repeat(513), 5, null, {})));
  if (command === ONLINE) muts.push(set('isAppBackground', fc.constantFrom('false', 0, 1, null, 'true')));
  return fc.oneof(...muts);
}

const extraFields = fc.dictionary(
  fc.string({ maxLength: 12 }).filter((k) => !knownKeys.has(k) && k !== '__proto__'),
  fc.jsonValue({ maxDepth: 2 }),
  { maxKeys: 3 },
);

/** JSON text that is not a valid webhook for `command`. */
function badBody(command: string): fc.Arbitrary<string> {
  const mutated = fc
    .tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.integer({ min: 0, max: 12 }), fc.nat(), fc.array(invalidating(command), { minLength: 1, maxLength: 3 }), extraFields)
    .map(([user, platformID, seq, mutations, extra]) => {
      const b = { ...extra, ...validObject(command, user, platformID, seq) };
      if (command === KICK) {
        b.callbackCommand = KICK;
        delete b.connID;
      }
      for (const m of mutations) m(b, command);
      return JSON.stringify(b);
    });
  const notAnObject = fc.jsonValue({ maxDepth: 3 }).filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)).map((v) => JSON.stringify(v));
  const truncated = fc.tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.nat()).chain(([user, seq]) => {
    const text = webhookJson(command === KICK ? OFFLINE : command, user, 5, seq, 'p_1_1').replace(OFFLINE, command);
    const end = text.lastIndexOf('}');
    return fc.oneof(
      fc.integer({ min: 0, max: end - 1 }).map((cut) => text.slice(0, cut)),
      fc.constantFrom('x', ',', '}', '\u0000', '{').map((g) => `${text.trimEnd()}${g}`),
      fc.constant(`\uFEFF${text}`),
    );
  });
  const garbage = fc.string({ unit: 'binary', maxLength: 200 }).filter((s) => {
    try {
      const v: unknown = JSON.parse(s);
      return typeof v !== 'object' || v === null || Array.isArray(v);
    } catch {
      return true;
    }
  });
  return fc.oneof({ weight: 6, arbitrary: mutated }, { weight: 1, arbitrary: notAnObject }, { weight: 2, arbitrary: truncated }, { weight: 1, arbitrary: garbage });
}

const jsonContentType = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json;charset=latin1', 'application/json ; x=y');
const command = fc.constantFrom(...COMMANDS);

function webhookCases(): fc.Arbitrary<FuzzRequest> {
  const secret = TEST_PATH_SECRET;
  const validBody = fc.tuple(command, fc.string({ minLength: 1, maxLength: 20 }), fc.nat()).map(([c, u, s]) => ({ c, body: webhookJson(c === KICK ? OFFLINE : c, u, 5, s, 'p_1_1').replace(OFFLINE, c) }));
  const pathFor = (c: string, form: number, q: string): string =>
    form === 0 ? `/${secret}/${c}${q}` : form === 1 ? `//${secret}//${c}/${q}` : `/${secret}?command=${c}${q.replace('?', '&')}`;
  const post = (label: string, path: string, headers: Record<string, string>, body: string | undefined): FuzzRequest => ({ method: 'POST', path, headers, body, label });
  return fc.oneof(
    // The right secret and command, JSON, a body that breaks the shape.
    {
      weight: 10,
      arbitrary: fc.tuple(command, fc.integer({ min: 0, max: 2 }), queryString, jsonContentType, extraHeaders).chain(([c, form, q, ct, h]) =>
        badBody(c).map((body) => post('bad body', pathFor(c, form, form === 2 ? q.replace(/command=/g, 'x=') : q), { ...h, 'content-type': ct }, body)),
      ),
    },
    // A valid body with another content type, or none.
    {
      weight: 2,
      arbitrary: fc.tuple(validBody, fc.option(fc.oneof(fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', 'application/jsonp', 'json', 'text/json', ''), printable.filter((s) => !/^application\/json\s*(;|$)/i.test(s.trim()))), { nil: undefined }), extraHeaders).map(([v, ct, h]) =>
        post('content type', `/${secret}/${v.c}`, { ...h, ...(ct === undefined ? {} : { 'content-type': ct }) }, v.body),
      ),
    },
    // A valid body to an unknown command, a wrong secret, or a random path.
    {
      weight: 3,
      arbitrary: fc.tuple(validBody, segment.filter((s) => !(COMMANDS as readonly string[]).includes(s)), fc.integer({ min: 0, max: 2 }), queryString).map(([v, bad, form, q]) =>
        post('unknown command', form === 2 ? `/${secret}?command=${bad}` : `/${secret}/${bad}${q}`, { 'content-type': 'application/json' }, v.body),
      ),
    },
    {
      weight: 3,
      arbitrary: fc.tuple(validBody, segment.filter((s) => s !== secret && !s.startsWith(`${secret}/`) && s !== `${secret}/`), queryString).map(([v, wrong, q]) =>
        post('wrong secret', `/${wrong}/${v.c}${q}`, { 'content-type': 'application/json' }, v.body),
      ),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.array(segment, { minLength: 1, maxLength: 4 }), queryString, fc.string({ unit: 'binary', maxLength: 300 }), extraHeaders).map(([segs, q, body, h]) =>
        post('random path', `/${segs.join('/')}${q}`.replace(new RegExp(`^/+${secret}(?=/|$)`), '/x'), h, body),
      ),
    },
    // Other methods on the webhook routes.
    {
      weight: 1,
      arbitrary: fc.tuple(validBody, fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD')).map(([v, method]) => ({
        method,
        path: `/${secret}/${v.c}`,
        headers: { 'content-type': 'application/json' },
        body: method === 'GET' || method === 'HEAD' ? undefined : v.body,
        label: 'method',
      })),
    },
    // Bodies over the limit (valid-looking), and empty bodies.
    {
      weight: 1,
      arbitrary: fc.tuple(command, fc.integer({ min: BODY_LIMIT + 1, max: BODY_LIMIT * 3 })).map(([c, size]) => {
        const b = webhookJson(c === KICK ? OFFLINE : c, 'big', 5, 1, 'o').replace(OFFLINE, c).replace('"operationID":"o"', `"operationID":"${'o'.repeat(size)}"`);
        return post('too large', `/${secret}/${c}`, { 'content-type': 'application/json' }, b);
      }),
    },
    { weight: 1, arbitrary: command.map((c) => post('empty body', `/${secret}/${c}`, { 'content-type': 'application/json' }, '')) },
  );
}

function apiCases(): fc.Arbitrary<FuzzRequest> {
  const id = fc.oneof(fc.constantFrom('1', '2', '3', '0', '-1', '999999', '1.5', '1e3', 'abc', '%00', '9007199254740993'), segment);
  const user = fc.oneof(fc.constantFrom('fz-u1', 'fz-u39', '<script>alert(1)</script>', '%2e%2e', '..', 'x'.repeat(300)), segment);
  const path = fc.oneof(
    fc.constantFrom('/v1/events', '/v1/presence', '/v1/mismatches', '/v1/report', '/v1/health', '/v1/stats/timeseries', '/metrics', '/healthz', '/readyz', '/', '/v1', '/v1/', '/dashboard/app.js'),
    user.map((u) => `/v1/presence/${u}`),
    user.map((u) => `/v1/users/${u}/timeline`),
    id.map((i) => `/v1/mismatches/${i}`),
    fc.tuple(id, fc.constantFrom('ack', 'resolve', 'delete', '')).map(([i, a]) => `/v1/mismatches/${i}/${a}`),
    fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => `/v1/${s.join('/')}`),
    fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => `/${s.join('/')}`),
  );
  const accept = fc.constantFrom('application/json', 'text/html', '*/*', 'text/event-stream', 'text/event-stream;q=0.1, application/json', '', 'image/png');
  const body = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc.record({ note: fc.oneof(fc.string({ maxLength: 50 }), fc.constantFrom('n'.repeat(5000), 5, null)) }).map((v) => JSON.stringify(v)),
    fc.string({ unit: 'binary', maxLength: 200 }),
  );
  const ctype = fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-8', 'nonsense');
  return fc.oneof(
    {
      weight: 8,
      arbitrary: fc.tuple(path, queryString, accept, extraHeaders, fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'DELETE', 'PUT', 'OPTIONS')).map(([p, q, a, h, method]) => ({
        method,
        path: `${p}${q}`,
        headers: { ...h, ...(a === '' ? {} : { accept: a }) },
        body: undefined,
        label: 'read',
      })),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(path, queryString, body, ctype, extraHeaders).map(([p, q, b, ct, h]) => ({
        method: 'POST',
        path: `${p}${q}`,
        headers: { ...h, 'content-type': ct },
        body: b,
        label: 'write',
      })),
    },
  );
}

/** Raw bytes on a fresh connection: the status line of the answer, or 0 when the server just closed. */
function rawExchange(port: number, bytes: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let got = '';
    const done = (): void => {
      s.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(got);
      resolve(m ? Number(m[1]) : 0);
    };
    s.setTimeout(1000, done);
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n')) done();
    });
    s.on('error', done);
    s.on('close', done);
    s.end(bytes);
  });
}

function rawCases(): fc.Arbitrary<Buffer> {
  const method = fc.oneof(fc.constantFrom('GET', 'POST', 'PUT', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE', 'PRI', 'get', 'P OST', ''), fc.string({ maxLength: 10 }));
  const target = fc.oneof(
    fc.constantFrom(`/${TEST_PATH_SECRET}/${ONLINE}`, '/v1/events', '/v1/mismatches', '*', 'http://127.0.0.1/v1/health', '/../../etc/passwd', ''),
    fc.string({ unit: 'binary', maxLength: 50 }),
  );
  const version = fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/1.1x', '', 'http/1.1');
  const header = fc.oneof(
    fc.constantFrom('Host: x', 'Content-Length: 5', 'Content-Length: -1', 'Content-Length: 99999999999', 'Content-Length: 1, 2', 'Transfer-Encoding: chunked', 'Transfer-Encoding: gzip, chunked', 'Content-Type: application/json', 'Expect: 100-continue', 'Connection: upgrade', 'Upgrade: websocket', ' folded: header', 'NoColon', ': empty name'),
    fc.string({ unit: 'binary', maxLength: 40 }),
  );
  const httpish = fc
    .tuple(method, target, version, fc.array(header, { maxLength: 6 }), fc.constantFrom('\r\n', '\n', '\r'), fc.string({ unit: 'binary', maxLength: 100 }))
    .map(([m, t, v, hs, eol, body]) => Buffer.from(`${m} ${t} ${v}${eol}${hs.join(eol)}${eol}${eol}${body}`, 'latin1'));
  return fc.oneof({ weight: 3, arbitrary: httpish }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)) });
}

describe('when the HTTP surfaces are fed arbitrary input', () => {
  it(`the webhook listener answers 4xx to ${CASES} bad requests and stores none of them`, async () => {
    const d = daemon!;
    const before = dbState(d);
    const cases = fc.sample(webhookCases(), { numRuns: CASES, seed: SEED });
    const started = Date.now();
    const { statuses, failures, retries } = await runCases(d.webhookUrl, cases, (a) => a.status >= 400 && a.status < 500);
    await sleep(300);
    const labels = new Map<string, number>();
    for (const c of cases) labels.set(c.label, (labels.get(c.label) ?? 0) + 1);
    console.log(`[fuzz/webhook] cases=${cases.length} seed=${SEED} ms=${Date.now() - started} statuses={${fmt(statuses)}} freshConnectionRetries=${retries} kinds={${[...labels].map(([k, n]) => `${k}:${n}`).join(', ')}}`);
    expect(failures).toEqual([]);
    expect(dbState(d)).toEqual(before);
  }, 120_000);

  it(`the /v1 API answers ${CASES} arbitrary requests without a 5xx and changes nothing`, async () => {
    const d = daemon!;
    const before = dbState(d);
    const cases = fc.sample(apiCases(), { numRuns: CASES, seed: SEED + 1 });
    const started = Date.now();
    const { statuses, failures, retries } = await runCases(d.apiUrl, cases, (a) => a.status >= 200 && a.status < 500);
    console.log(`[fuzz/api] cases=${cases.length} seed=${SEED + 1} ms=${Date.now() - started} statuses={${fmt(statuses)}} freshConnectionRetries=${retries}`);
    expect(failures).toEqual([]);
    expect(dbState(d)).toEqual(before);
  }, 120_000);

  it(`both listeners survive ${CASES} raw byte sequences without a 5xx`, async () => {
    const d = daemon!;
    const before = dbState(d);
    const ports = [Number(new URL(d.webhookUrl).port), Number(new URL(d.apiUrl).port)];
    const cases = fc.sample(rawCases(), { numRuns: CASES, seed: SEED + 2 });
    const statuses = new Map<number, number>();
    const bad: string[] = [];
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < cases.length) {
          const i = next++;
          const status = await rawExchange(ports[i % 2]!, cases[i]!);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (status >= 500 && bad.length < 5) bad.push(`${status} ← ${JSON.stringify(cases[i]!.toString('latin1').slice(0, 200))}`);
        }
      }),
    );
    console.log(`[fuzz/raw] cases=${cases.length} seed=${SEED + 2} ms=${Date.now() - started} statuses={${fmt(statuses)}} (0 = closed without an answer)`);
    expect(bad).toEqual([]);
    expect(dbState(d)).toEqual(before);
    // Still serving.
    expect((await fetch(`${d.apiUrl}/healthz`)).status).toBe(200);
    const ok = await fetch(`${d.webhookUrl}/${ONLINE}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: webhookJson(ONLINE, 'after-fuzz', 5, Date.now(), 'p_1_x') });
    expect(ok.status).toBe(200);
  }, 120_000);
});

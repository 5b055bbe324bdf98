import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import { describe, expect, it } from 'vitest';
import { OpenImTransportError, OprError } from '../../src/errors.js';
import { createLogger, redactSecrets, serializeError } from '../../src/logging/logger.js';

const SECRET = 'openIM123-logger-secret';
const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.logger-admin-token.c2lnbmF0dXJl';
const PATH_SECRET = 'hook-path-secret-42';

/** An in-memory destination collecting every written line. */
function memory(): { write(line: string): void; text(): string; lines(): Record<string, unknown>[] } {
  const chunks: string[] = [];
  return {
    write: (line: string) => {
      chunks.push(line);
    },
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** A local server answering 500 to everything, for one real failed axios call. Closed by the returned function. */
async function failingServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end('{"errCode":500,"errMsg":"internal"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}

/** Makes the kind of request the OpenIM client makes (token header, secret in the body) and returns its AxiosError. */
async function failedAxiosCall(url: string): Promise<unknown> {
  try {
    await axios.post(
      `${url}/auth/get_admin_token?pathSecret=${PATH_SECRET}`,
      { secret: SECRET, userID: 'imAdmin' },
      { headers: { token: TOKEN, operationID: 'opr_1_1' } },
    );
  } catch (error) {
    return error;
  }
  throw new Error('the call was expected to fail');
}

describe('the logger', () => {
  it('writes JSON lines with level, message and fields', () => {
    const out = memory();
    const logger = createLogger({ level: 'info', pretty: 'never', destination: out });
    logger.info({ userID: 'u1' }, 'hello');
    logger.debug('not written at info');
    const lines = out.lines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 30, msg: 'hello', userID: 'u1' });
  });

  describe('when a failed HTTP call is logged', () => {
    it('keeps the admin token and the secret out of the line', async () => {
      const server = await failingServer();
      try {
        const error = await failedAxiosCall(server.url);
        expect(axios.isAxiosError(error)).toBe(true);
        // Without the secrets list: the serializer and redact paths alone must hold.
        const out = memory();
        const logger = createLogger({ level: 'info', pretty: 'never', destination: out });
        logger.error({ err: error }, 'token fetch failed');
        logger.error(error as Error);
        logger.warn({ failure: error }, 'logged under another key');
        const text = out.text();
        expect(text).not.toContain(TOKEN);
        expect(text).not.toContain(SECRET);
        expect(text).not.toContain(PATH_SECRET);
        const first = out.lines()[0]!;
        expect(first.err).toMatchObject({ type: 'AxiosError', code: 'ERR_BAD_RESPONSE', method: 'POST', status: 500 });
        expect((first.err as Record<string, unknown>).url).toMatch(/\/auth\/get_admin_token$/);
      } finally {
        await server.close();
      }
    });

    it('keeps them out with the secrets list as well', async () => {
      const server = await failingServer();
      try {
        const error = await failedAxiosCall(server.url);
        const out = memory();
        const logger = createLogger({
          level: 'info',
          pretty: 'never',
          destination: out,
          secrets: [SECRET, TOKEN, PATH_SECRET],
        });
        logger.error({ err: error, request: { headers: { token: TOKEN } } }, `failed with ${SECRET}`);
        const text = out.text();
        expect(text).not.toContain(TOKEN);
        expect(text).not.toContain(SECRET);
        expect(text).toContain('[REDACTED]');
      } finally {
        await server.close();
      }
    });
  });

  describe('when a secret shows up where no rule expects it', () => {
    it('replaces its literal occurrences, JSON-escaped ones included', () => {
      const tricky = 'se"cr\\et-value';
      const out = memory();
      const logger = createLogger({ level: 'info', pretty: 'never', destination: out, secrets: [SECRET, tricky] });
      logger.info({ note: `contains ${SECRET} and ${tricky}` }, `message with ${SECRET}`);
      const text = out.text();
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(JSON.stringify(tricky).slice(1, -1));
      expect(out.lines()[0]).toMatchObject({
        msg: 'message with [REDACTED]',
        note: 'contains [REDACTED] and [REDACTED]',
      });
    });

    it('masks secrets pushed onto the list after the logger was made', () => {
      const secrets: string[] = [];
      const out = memory();
      const logger = createLogger({ level: 'info', pretty: 'never', destination: out, secrets });
      secrets.push(TOKEN);
      logger.info(`token is ${TOKEN}`);
      expect(out.text()).not.toContain(TOKEN);
    });
  });

  it('blanks the fields named token, secret, pathSecret and authorization', () => {
    const out = memory();
    const logger = createLogger({ level: 'info', pretty: 'never', destination: out });
    logger.info(
      {
        token: TOKEN,
        openim: { secret: SECRET, apiUrl: 'http://x' },
        webhook: { pathSecret: PATH_SECRET },
        request: { headers: { token: TOKEN, authorization: `Bearer ${TOKEN}` } },
        req: { headers: { authorization: `Bearer ${TOKEN}` } },
      },
      'config',
    );
    const text = out.text();
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(PATH_SECRET);
    expect(out.lines()[0]).toMatchObject({ token: '[REDACTED]', openim: { secret: '[REDACTED]', apiUrl: 'http://x' } });
  });

  it('serializes project errors with their code and details', () => {
    const error = new OpenImTransportError('OPR_ERR_OPENIM_HTTP', '/user/get_users_online_status', 'HTTP 502', 502);
    const out = memory();
    createLogger({ level: 'info', pretty: 'never', destination: out }).error({ err: error }, 'poll failed');
    expect(out.lines()[0]!.err).toMatchObject({
      type: 'OpenImTransportError',
      code: 'OPR_ERR_OPENIM_HTTP',
      message: 'OpenIM /user/get_users_online_status: HTTP 502',
      status: 502,
      details: { route: '/user/get_users_online_status', status: 502 },
    });
  });

  it('serializes causes and drops sensitive fields of plain errors', () => {
    const cause = Object.assign(new Error('inner'), { config: { headers: { token: TOKEN } } });
    const error = Object.assign(new OprError('OPR_ERR_STORE_OPEN', 'outer', { file: '/tmp/x' }, { cause }), {
      secret: SECRET,
    });
    const serialized = serializeError(error) as Record<string, unknown>;
    expect(serialized).toMatchObject({
      type: 'OprError',
      code: 'OPR_ERR_STORE_OPEN',
      details: { file: '/tmp/x' },
      cause: { message: 'inner' },
    });
    expect(JSON.stringify(serialized)).not.toContain(TOKEN);
    expect(JSON.stringify(serialized)).not.toContain(SECRET);
  });

  describe('when asked for pretty output', () => {
    it('writes human-readable lines when pretty is always', () => {
      const out = memory();
      const logger = createLogger({ level: 'info', pretty: 'always', destination: out, secrets: [SECRET] });
      logger.info(`hello ${SECRET}`);
      const text = out.text();
      expect(text).toContain('hello [REDACTED]');
      expect(() => JSON.parse(text) as unknown).toThrow();
    });

    it('writes JSON in auto mode when stdout is not a terminal', () => {
      const out = memory();
      createLogger({ level: 'info', pretty: 'auto', destination: out, isTTY: false }).info('plain');
      expect(out.lines()[0]).toMatchObject({ msg: 'plain' });
    });

    it('writes human-readable lines in auto mode on a terminal', () => {
      const out = memory();
      createLogger({ level: 'info', pretty: 'auto', destination: out, isTTY: true }).info('for people');
      expect(out.text()).toContain('for people');
      expect(out.text().trimStart().startsWith('{')).toBe(false);
    });
  });

  describe('redactSecrets', () => {
    it('ignores values too short to mask safely and replaces the longest first', () => {
      expect(redactSecrets('a b abc', ['a', 'ab'])).toBe('a b abc');
      expect(redactSecrets('xx secret-long yy', ['secret', 'secret-long'])).toBe('xx [REDACTED] yy');
    });
  });
});

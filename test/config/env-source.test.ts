import { describe, expect, it } from 'vitest';
import { applyEnv, readEnv } from '../../src/config/env-source.js';
import type { ConfigIssue } from '../../src/errors.js';

function read(env: NodeJS.ProcessEnv): { values: Record<string, unknown>; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const values = Object.fromEntries(readEnv(env, issues).map((o) => [o.info.path, o.value]));
  return { values, issues };
}

describe('readEnv', () => {
  it('converts each value by the type of its key and ignores variables without the prefix', () => {
    const { values, issues } = read({
      PATH: '/bin',
      OPR_OPENIM__TIMEOUT_MS: ' 2500 ',
      OPR_POLL__ENABLED: 'FALSE',
      OPR_API__TOKENS: 'a, b,c',
      OPR_WEBHOOK__EXTRA_PLATFORMS: '',
      OPR_WEBHOOK__ALLOWLIST: '10.0.0.0/8',
      OPR_MODE: 'shadow',
    });
    expect(issues).toEqual([]);
    expect(values).toEqual({
      'openim.timeoutMs': 2500,
      'poll.enabled': false,
      'api.tokens': ['a', 'b', 'c'],
      'webhook.extraPlatforms': [],
      'webhook.allowlist': ['10.0.0.0/8'],
      mode: 'shadow',
    });
  });

  it('keeps text that is not a number or boolean for the schema to report', () => {
    expect(read({ OPR_OPENIM__TIMEOUT_MS: 'soon', OPR_POLL__ENABLED: 'yes', OPR_WEBHOOK__EXTRA_PLATFORMS: '12,x' }).values).toEqual({
      'openim.timeoutMs': 'soon',
      'poll.enabled': 'yes',
      'webhook.extraPlatforms': [12, 'x'],
    });
  });

  it('reads subscribers as a JSON array only, never echoing the value', () => {
    expect(read({ OPR_SUBSCRIBERS: '[{"name":"a"}]' }).values).toEqual({ subscribers: [{ name: 'a' }] });
    const notJson = read({ OPR_SUBSCRIBERS: '[{"secret":"whsec_x"' }).issues;
    expect(notJson).toEqual([{ path: 'subscribers', value: '[REDACTED]', message: expect.stringMatching(/^OPR_SUBSCRIBERS is not valid JSON/) as unknown }]);
    expect(read({ OPR_SUBSCRIBERS: '{"name":"a"}' }).issues[0]?.message).toMatch(/^OPR_SUBSCRIBERS must be a JSON array of subscriber mappings/);
  });

  it('reports an unknown variable with the closest name, redacting a value that looks secret', () => {
    const [typo] = read({ OPR_OPENIM__SECRTE: 'hunter2hunter2' }).issues;
    expect(typo).toMatchObject({ path: 'OPR_OPENIM__SECRTE', value: '[REDACTED]' });
    expect(typo?.message).toMatch(/did you mean OPR_OPENIM__SECRET\?/);
    const [plain] = read({ OPR_OPENIM__API_URX: 'http://x' }).issues;
    expect(plain).toMatchObject({ path: 'OPR_OPENIM__API_URX', value: 'http://x' });
    expect(plain?.message).toMatch(/did you mean OPR_OPENIM__API_URL\?/);
  });

  it('says a section is set key by key', () => {
    const [issue] = read({ OPR_OPENIM: 'x' }).issues;
    expect(issue?.message).toMatch(/openim is a section: set its keys one by one, e\.g\. OPR_OPENIM__/);
  });
});

describe('applyEnv', () => {
  it('writes each override and says which variable set it', () => {
    const data: Record<string, unknown> = { openim: { apiUrl: 'http://file' } };
    const sources = new Map<string, string>();
    applyEnv(data, readEnv({ OPR_OPENIM__API_URL: 'http://env', OPR_POLL__USERS: 'a' }, []), sources);
    expect(data).toEqual({ openim: { apiUrl: 'http://env' }, poll: { users: ['a'] } });
    expect(sources.get('openim.apiUrl')).toBe('set by OPR_OPENIM__API_URL');
  });

  it('lets a key or its *File key from the environment replace both from the file, unless it sets both', () => {
    const fromFile = (): Record<string, unknown> => ({ openim: { secret: 'in-file' }, api: { tokensFile: '/t' } });
    const one = fromFile();
    applyEnv(one, readEnv({ OPR_OPENIM__SECRET_FILE: '/s', OPR_API__TOKENS: 'tttttttttttttttt' }, []), new Map());
    expect(one).toEqual({ openim: { secretFile: '/s' }, api: { tokens: ['tttttttttttttttt'] } });
    const both = fromFile();
    applyEnv(both, readEnv({ OPR_OPENIM__SECRET_FILE: '/s', OPR_OPENIM__SECRET: 'env' }, []), new Map());
    expect(both.openim).toEqual({ secret: 'env', secretFile: '/s' });
  });
});

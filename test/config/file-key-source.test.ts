import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { filePartner, readFileKeys } from '../../src/config/file-key-source.js';
import { makeTempDir } from './helpers.js';

let tmp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  tmp = makeTempDir();
});
afterEach(() => {
  tmp.cleanup();
});

describe('filePartner', () => {
  it('pairs a key with its *File key both ways, and nothing else', () => {
    expect(filePartner('openim.secret')).toBe('openim.secretFile');
    expect(filePartner('openim.secretFile')).toBe('openim.secret');
    expect(filePartner('api.tokens')).toBe('api.tokensFile');
    expect(filePartner('openim.apiUrl')).toBeUndefined();
  });
});

describe('readFileKeys', () => {
  it('replaces each *File key with the trimmed file content, one entry per line for lists, relative to cwd', () => {
    tmp.write('secret', '  s3cret-value \n');
    tmp.write('tokens', '# tokens\n\ntoken-a\n  token-b  \r\n');
    tmp.write('sub', 'whsec_x\n');
    const data: Record<string, unknown> = {
      openim: { secretFile: 'secret' },
      api: { tokensFile: `${tmp.dir}/tokens` },
      subscribers: [{ name: 'a' }, { name: 'b', secretFile: 'sub' }],
    };
    const sources = new Map<string, string>();
    expect(readFileKeys(data, tmp.dir, sources)).toEqual([]);
    expect(data).toEqual({
      openim: { secretFile: 'secret', secret: 's3cret-value' },
      api: { tokensFile: `${tmp.dir}/tokens`, tokens: ['token-a', 'token-b'] },
      subscribers: [{ name: 'a' }, { name: 'b', secretFile: 'sub', secret: 'whsec_x' }],
    });
    expect(Object.fromEntries(sources)).toEqual({
      'openim.secret': 'read from secret',
      'api.tokens': `read from ${tmp.dir}/tokens`,
      'subscribers.1.secret': 'read from sub',
    });
  });

  it('reports both keys set, an empty path, a file it cannot read and an empty file, leaving the key alone', () => {
    tmp.write('empty', '\n  \n');
    tmp.write('comments', '# only a comment\n');
    const data: Record<string, unknown> = {
      openim: { secret: 'x', secretFile: 'empty' },
      webhook: { pathSecretFile: ' ' },
      api: { tokensFile: 'comments' },
      subscribers: [{ name: 'a', secretFile: 'missing' }, { name: 'b', secretFile: 'empty' }],
    };
    const issues = readFileKeys(data, tmp.dir, new Map());
    expect(issues).toEqual([
      { path: 'openim.secretFile', value: 'empty', message: 'both openim.secret and openim.secretFile are set; set only one of them' },
      { path: 'webhook.pathSecretFile', value: ' ', message: 'must be the path of a file holding webhook.pathSecret' },
      { path: 'api.tokensFile', value: 'comments', message: 'the file is empty; it must hold one value per line' },
      { path: 'subscribers.0.secretFile', value: 'missing', message: 'cannot read the file holding subscribers.0.secret: no such file' },
      { path: 'subscribers.1.secretFile', value: 'empty', message: 'the file is empty; it must hold subscribers.1.secret' },
    ]);
    expect(data.api).toEqual({ tokensFile: 'comments' });
    expect((data.openim as Record<string, unknown>).secret).toBe('x');
  });

  it('leaves a *File key of the wrong type to the schema', () => {
    const data: Record<string, unknown> = { openim: { secretFile: 42 } };
    expect(readFileKeys(data, tmp.dir, new Map())).toEqual([]);
    expect(data).toEqual({ openim: { secretFile: 42 } });
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readYaml } from '../../src/config/yaml-source.js';
import { ConfigFileError } from '../../src/errors.js';
import { makeTempDir } from './helpers.js';

let tmp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  tmp = makeTempDir();
});
afterEach(() => {
  tmp.cleanup();
});

describe('readYaml', () => {
  it('reads the mappings, dropping sections whose keys are all commented out', () => {
    const file = tmp.write('c.yaml', 'mode: shadow\nwebhook:\n  # port: 1\npoll:\n  users: [a]\n');
    expect(readYaml(file).data).toEqual({ mode: 'shadow', poll: { users: ['a'] } });
  });

  it('reads an empty file as no keys', () => {
    expect(readYaml(tmp.write('c.yaml', '# nothing\n')).data).toEqual({});
  });

  it('locates a key, a list item, or the nearest key above a path the file does not have', () => {
    const file = tmp.write('c.yaml', 'openim:\n  apiUrl: x\nsubscribers:\n  - name: a\n  - name: b\n    url: u\n');
    const { locate } = readYaml(file);
    expect(locate(['openim', 'apiUrl'])).toBe(`at ${file} line 2`);
    expect(locate(['subscribers', 1, 'url'])).toBe(`at ${file} line 6`);
    expect(locate(['subscribers', 1])).toBe(`at ${file} line 5`);
    expect(locate(['openim', 'timeoutMs'])).toBe(`at ${file} line 1`);
    expect(locate(['api', 'port'])).toBeUndefined();
  });

  it('refuses a missing file, invalid YAML, a repeated key and a top level that is not a mapping, naming the file', () => {
    const cases: [string, RegExp][] = [
      [`${tmp.dir}/missing.yaml`, /: no such file$/],
      [tmp.write('bad.yaml', 'openim:\n  apiUrl: [x\n'), /invalid YAML at line \d+, column \d+/],
      [tmp.write('twice.yaml', 'mode: active\nmode: shadow\n'), /invalid YAML at line 2/],
      [tmp.write('list.yaml', '- a\n- b\n'), /the top level must be a mapping of keys .*, not a list$/],
    ];
    for (const [file, reason] of cases) {
      let thrown: unknown;
      try {
        readYaml(file);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(ConfigFileError);
      expect((thrown as ConfigFileError).message).toMatch(new RegExp(`^cannot read ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
      expect((thrown as ConfigFileError).message).toMatch(reason);
    }
  });
});

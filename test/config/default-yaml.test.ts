import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderDefaultYaml } from '../../scripts/config-reference.js';
import { describeConfigKeys } from '../../src/config/config-reference.js';
import { loadConfig } from '../../src/config/load-config.js';
import { issuesOf } from './helpers.js';

const DEFAULT_YAML = fileURLToPath(new URL('../../config/default.yaml', import.meta.url));
const EXAMPLE_PRODUCTION = fileURLToPath(new URL('../../config/example-production.yaml', import.meta.url));

/**
 * Key paths a YAML file lists, set or commented out (`# secret: …`): comment markers are peeled off each line and
 * the keys are placed by indentation, `- ` opening a list item (`subscribers.*.name`).
 */
function listedKeyPaths(text: string): Set<string> {
  const paths = new Set<string>();
  const stack: { column: number; path: string }[] = [];
  for (const rawLine of text.split('\n')) {
    let line = rawLine;
    for (let previous = ''; previous !== line;) {
      previous = line;
      line = line.replace(/^(\s*)# ?/, '$1');
    }
    const match = /^(\s*)(- )?([A-Za-z][A-Za-z0-9]*):(\s|$)/.exec(line);
    if (!match) continue;
    const indent = match[1]?.length ?? 0;
    const listItem = match[2] !== undefined;
    const key = match[3] ?? '';
    const column = listItem ? indent + 2 : indent;
    while (stack.length > 0 && (stack[stack.length - 1]?.column ?? 0) >= (listItem ? indent : column)) stack.pop();
    let parent = stack[stack.length - 1]?.path;
    if (listItem) {
      parent = parent === undefined ? '*' : `${parent}.*`;
      stack.push({ column: indent + 1, path: parent });
    }
    const path = parent === undefined ? key : `${parent}.${key}`;
    paths.add(path);
    stack.push({ column, path });
  }
  return paths;
}

describe('config/default.yaml', () => {
  const text = readFileSync(DEFAULT_YAML, 'utf8');

  it('is the one generated from the schema (regenerate with: node --import tsx scripts/update-readme-config.ts)', () => {
    expect(text).toBe(renderDefaultYaml());
  });

  it('loads cleanly and sets exactly the schema defaults', () => {
    expect(loadConfig({ file: DEFAULT_YAML, env: {} })).toEqual(loadConfig({ env: {} }));
  });

  it('lists every key of the schema', () => {
    const listed = listedKeyPaths(text);
    const missing = describeConfigKeys()
      .map((k) => k.path)
      .filter((path) => !listed.has(path));
    expect(missing).toEqual([]);
  });

  it('comments every key with its description from the schema', () => {
    for (const key of describeConfigKeys()) {
      if (key.description) expect(text, key.path).toContain(`# ${key.description}`);
    }
  });

  it('leaves every secret commented out', () => {
    for (const key of describeConfigKeys().filter((k) => k.secret)) {
      const name = key.path.split('.').pop() ?? '';
      expect(text, key.path).not.toMatch(new RegExp(`^\\s*(- )?${name}:`, 'm'));
    }
  });
});

describe('config/example-production.yaml', () => {
  it('has only valid keys and values: its only problems here are the secret files it expects to be mounted', () => {
    const issues = issuesOf(() => loadConfig({ file: EXAMPLE_PRODUCTION, env: {} }));
    expect(issues.map((i) => i.path).sort()).toEqual([
      'api.tokensFile',
      'openim.secretFile',
      'subscribers.0.secretFile',
      'webhook.pathSecretFile',
    ]);
    for (const issue of issues) expect(issue.message).toContain('cannot read the file');
  });
});

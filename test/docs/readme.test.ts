import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands.js';
import { ERROR_CODES } from '../../src/errors.js';
import { MISMATCH_KINDS } from '../../src/domain.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('the README', () => {
  it('lists every error code', () => {
    const missing = Object.keys(ERROR_CODES).filter((code) => !readme.includes(`\`${code}\``));
    expect(missing).toEqual([]);
  });

  it('documents every CLI command', () => {
    const program = new Command();
    for (const register of COMMANDS) register(program);
    const missing = program.commands.map((c) => c.name()).filter((name) => !new RegExp(`\\| \`${name}[ \`]`).test(readme));
    expect(missing).toEqual([]);
  });

  it('explains every mismatch kind', () => {
    expect(MISMATCH_KINDS.filter((k) => !readme.includes(`| \`${k}\` |`))).toEqual([]);
  });

  it('gives the two set-up commands', () => {
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm test');
  });
});

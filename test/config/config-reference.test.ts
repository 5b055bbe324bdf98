import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeConfigKeys, envVarName } from '../../src/config/config-reference.js';
import {
  extractConfigReference,
  README_MARKER_END,
  README_MARKER_START,
  renderConfigReference,
  spliceConfigReference,
} from '../../scripts/config-reference.js';

const README = new URL('../../README.md', import.meta.url);

describe('the configuration reference', () => {
  it('is in sync with the README (regenerate with: node --import tsx scripts/update-readme-config.ts)', () => {
    const readme = readFileSync(README, 'utf8');
    expect(extractConfigReference(readme)).toBe(renderConfigReference());
  });

  it('has one row per key of the schema, each with its environment variable', () => {
    const table = renderConfigReference();
    for (const key of describeConfigKeys()) {
      expect(table).toContain(`\`${key.path}\``);
      if (key.env) expect(table).toContain(`\`${key.env}\``);
    }
    expect(table.trimEnd().split('\n')).toHaveLength(describeConfigKeys().length + 2);
  });

  it('shows types with their ranges, defaults and allowed values', () => {
    const table = renderConfigReference();
    expect(table).toContain('| `openim.timeoutMs` | integer 100–300000 | `5000` | `OPR_OPENIM__TIMEOUT_MS` |');
    expect(table).toContain('| `api.requireAuth` | `auto` \\| `always` \\| `never` | `auto` |');
    expect(table).toContain('| `subscribers` | list of object | `[]` | `OPR_SUBSCRIBERS` (JSON array) |');
  });
});

describe('envVarName', () => {
  it('joins UPPER_SNAKE segments with __ after the OPR_ prefix', () => {
    expect(envVarName('openim.apiUrl')).toBe('OPR_OPENIM__API_URL');
    expect(envVarName('poll.intervalSeconds')).toBe('OPR_POLL__INTERVAL_SECONDS');
    expect(envVarName('openim.secretFile')).toBe('OPR_OPENIM__SECRET_FILE');
    expect(envVarName('openim.adminUserID')).toBe('OPR_OPENIM__ADMIN_USER_ID');
    expect(envVarName('mode')).toBe('OPR_MODE');
  });

  it('gives every key its own variable', () => {
    const names = describeConfigKeys().flatMap((k) => (k.env ? [k.env] : []));
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('spliceConfigReference', () => {
  it('replaces only the text between the markers', () => {
    const readme = `# Title\n\nintro\n\n${README_MARKER_START}\nold table\n${README_MARKER_END}\n\n## After\ntext\n`;
    const updated = spliceConfigReference(readme);
    expect(updated.startsWith('# Title\n\nintro\n\n')).toBe(true);
    expect(updated.endsWith(`${README_MARKER_END}\n\n## After\ntext\n`)).toBe(true);
    expect(updated).not.toContain('old table');
    expect(extractConfigReference(updated)).toBe(renderConfigReference());
  });

  it('appends the whole section when the README has no markers', () => {
    const updated = spliceConfigReference('# Title\n');
    expect(updated).toContain('## Configuration reference');
    expect(extractConfigReference(updated)).toBe(renderConfigReference());
  });

  it('changes nothing when the table is already current', () => {
    const once = spliceConfigReference('# Title\n');
    expect(spliceConfigReference(once)).toBe(once);
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...sources(path));
    else if (/\.(ts|js)$/.test(entry.name)) out.push(path);
  }
  return out;
}

describe('the error catalogue', () => {
  it('holds every OPR_ERR_ code the sources send or throw', () => {
    const used = new Set<string>();
    for (const file of sources('src')) for (const m of readFileSync(join(root, file), 'utf8').matchAll(/\bOPR_ERR_[A-Z0-9_]*[A-Z0-9]\b/g)) used.add(m[0]);
    expect([...used].filter((code) => !(code in ERROR_CODES)).sort()).toEqual([]);
  });
});

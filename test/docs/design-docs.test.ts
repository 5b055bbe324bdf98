import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const DOCS = ['docs/architecture.md', 'docs/openim-contract.md'] as const;
/** A citation of a section number of a document that is not in this repository. */
const OUTSIDE_CITATION = /\b(design|contract) §/i;

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (/\.(ts|js|css|html|md|json|yaml)$/.test(entry.name)) out.push(path);
  }
  return out;
}

describe('the design documents', () => {
  it.each(DOCS)('%s exists and is linked from the README', (doc) => {
    expect(existsSync(join(root, doc))).toBe(true);
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toContain(`](${doc})`);
  });

  it('are what comments cite: no file in src/ or test/ cites a section of a document outside the repository', () => {
    const citing = [...filesUnder('src'), ...filesUnder('test')].filter((f) => OUTSIDE_CITATION.test(readFileSync(join(root, f), 'utf8')));
    expect(citing).toEqual([]);
  });
});

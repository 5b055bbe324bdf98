// Regenerates what is derived from the zod config schema: the configuration reference in README.md (only the part
// between the `<!-- config-reference:start -->` / `<!-- config-reference:end -->` markers; the whole section is
// appended when the markers are missing) and config/default.yaml.
// Run: node --import tsx scripts/update-readme-config.ts
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { renderDefaultYaml, spliceConfigReference } from './config-reference.js';

function rewrite(url: URL, label: string, render: (before: string) => string, initial = ''): void {
  const before = existsSync(url) ? readFileSync(url, 'utf8') : initial;
  const after = render(before);
  if (after === before) {
    console.log(`${label} is up to date`);
  } else {
    writeFileSync(url, after);
    console.log(`${label} updated`);
  }
}

rewrite(
  new URL('../README.md', import.meta.url),
  'README.md configuration reference',
  spliceConfigReference,
  '# openim-presence-reconciler\n',
);
rewrite(new URL('../config/default.yaml', import.meta.url), 'config/default.yaml', () => renderDefaultYaml());

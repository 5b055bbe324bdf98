// Copies non-TypeScript runtime assets (the dashboard's static files: the page, its stylesheet, its entry script and
// the ES modules under js/) next to the compiled code. The target is replaced, not merged into, so that a module
// renamed or removed in src/ is not still served from dist/.
import { cpSync, existsSync, rmSync } from 'node:fs';

const pairs = [['src/dashboard/assets', 'dist/dashboard/assets']];
for (const [from, to] of pairs) {
  if (!existsSync(from)) continue;
  rmSync(to, { recursive: true, force: true });
  cpSync(from, to, { recursive: true });
}

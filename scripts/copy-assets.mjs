// Copies non-TypeScript runtime assets (the dashboard's static files) next to the compiled code.
import { cpSync, existsSync } from 'node:fs';

const pairs = [['src/dashboard/assets', 'dist/dashboard/assets']];
for (const [from, to] of pairs) {
  if (existsSync(from)) cpSync(from, to, { recursive: true });
}

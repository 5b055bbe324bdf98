/**
 * The layer rules in eslint.config.js (docs/architecture.md, where each part lives), checked by linting an existing
 * file of each folder with one import added: the allowed import passes, the forbidden one is reported with the rule.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const RULE = '@typescript-eslint/no-restricted-imports';
let eslint: ESLint | undefined;

/** The layer-rule messages for `file` with `line` added at its top. */
async function layerErrors(file: string, line: string): Promise<string[]> {
  eslint ??= new ESLint({ cwd: root });
  const text = `${line}\n${readFileSync(`${root}${file}`, 'utf8')}`;
  const [result] = await eslint.lintText(text, { filePath: `${root}${file}` });
  return result!.messages.filter((m) => m.ruleId === RULE).map((m) => m.message);
}

const CASES: { file: string; allowed: string[]; forbidden: string[] }[] = [
  {
    file: 'src/reconciler/reconciler.ts',
    allowed: ["import type { Mismatch } from '../domain.js';"],
    forbidden: ["import type { Store } from '../store/store.js';", "import { z } from 'zod';", "import type { PresenceEngine } from '../engine/presence-engine.js';"],
  },
  {
    file: 'src/store/migrations.ts',
    allowed: ["import type { KeyState } from '../domain.js';"],
    forbidden: ["import type { FastifyInstance } from 'fastify';", "import type { ApiContext } from '../api/api-context.js';", "import { createServer } from 'node:http';"],
  },
  {
    file: 'src/simulator/prng.ts',
    allowed: ["import { platformName } from '../openim/platforms.js';", "import { OprError } from '../errors.js';"],
    forbidden: ["import type { KeyState } from '../domain.js';", "import { SqliteStore } from '../store/sqlite-store.js';"],
  },
  {
    file: 'src/client/sse-parser.ts',
    allowed: ["import type { PresenceEventJson } from '../domain.js';", "import { backoffDelay } from '../util/backoff.js';"],
    forbidden: ["import { eventToJson } from '../domain.js';", "import type { Store } from '../store/store.js';"],
  },
  {
    file: 'src/util/backoff.ts',
    allowed: ["import { setTimeout as sleep } from 'node:timers/promises';"],
    forbidden: ["import type { KeyState } from '../domain.js';"],
  },
  {
    file: 'src/dashboard/dashboard-routes.ts',
    allowed: ["import type { Logger as L } from 'pino';"],
    forbidden: ["import type { ApiContext } from '../api/api-context.js';"],
  },
];

describe('the layer rules', () => {
  describe.each(CASES)('in $file', ({ file, allowed, forbidden }) => {
    it.each(allowed)('allow %s', async (line) => {
      expect(await layerErrors(file, line)).toEqual([]);
    });

    it.each(forbidden)('forbid %s', async (line) => {
      const errors = await layerErrors(file, line);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain(file.split('/').slice(0, 2).join('/'));
    });
  });

  it('hold for the sources as they are', async () => {
    eslint ??= new ESLint({ cwd: root });
    const results = await eslint.lintFiles(['src/reconciler', 'src/store', 'src/simulator', 'src/client', 'src/util', 'src/dashboard']);
    expect(results.flatMap((r) => r.messages.filter((m) => m.ruleId === RULE).map((m) => `${r.filePath}: ${m.message}`))).toEqual([]);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import type { ConfigIssue } from '../../src/errors.js';

/** A temporary directory owned by one test; `cleanup()` removes it. */
export function makeTempDir(): { dir: string; write(name: string, content: string): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'opr-config-'));
  return {
    dir,
    write(name, content) {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `load`, expects a ConfigError and returns its issues. */
export function issuesOf(load: () => unknown): ConfigIssue[] {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues;
  }
  throw new Error('expected a ConfigError, but the configuration loaded');
}

/** The issue at `path`, failing the test when there is none. */
export function issueAt(issues: readonly ConfigIssue[], path: string): ConfigIssue {
  const issue = issues.find((i) => i.path === path);
  if (!issue) throw new Error(`no issue at ${path}; got: ${JSON.stringify(issues, null, 2)}`);
  return issue;
}

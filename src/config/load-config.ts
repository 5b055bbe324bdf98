/**
 * Loading the configuration (docs/architecture.md, where each part lives: `src/config/`): schema defaults ← the
 * YAML file (`yaml-source.ts`) ← environment variables (`env-source.ts`), then the `*File` keys
 * (`file-key-source.ts`), then one validation: the schema, and the cross-key rules of `semantic-checks.ts`. Every
 * command loads through here, so `check-config` judges a configuration exactly as `run` does.
 */
import type { ConfigIssue } from '../errors.js';
import { ConfigError } from '../errors.js';
import { fromZodIssue } from './config-issue-messages.js';
import { dotted, segmentsOf } from './config-tree.js';
import type { Plain, Segment } from './config-tree.js';
import { applyEnv, readEnv } from './env-source.js';
import { readFileKeys } from './file-key-source.js';
import { configSchema } from './schema.js';
import type { Config } from './schema.js';
import { checkSemantics } from './semantic-checks.js';
import { readYaml } from './yaml-source.js';

export { formatConfigIssue } from './config-issue-messages.js';
export { requireSecrets } from './required-secrets.js';

/**
 * Where the configuration comes from. A source that sets either a key or its `*File` key overrides both from
 * earlier sources; both in the same source is an error.
 */
export interface LoadConfigOptions {
  /** YAML file to read; missing, unreadable or invalid YAML throws `ConfigFileError`. */
  file?: string;
  /** Environment to read `OPR_*` variables from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Directory relative `*File` paths resolve against (default `process.cwd()`). */
  cwd?: string;
}

/**
 * Loads and validates the configuration. Throws `ConfigFileError` when the YAML file cannot be read or
 * parsed, and {@link ConfigError} listing every other problem at once, each saying where its value was set.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const issues: ConfigIssue[] = [];

  const yaml = options.file === undefined ? undefined : readYaml(options.file);
  const data: Plain = yaml?.data ?? {};
  /** Where a value came from, by dotted path, for messages. */
  const sources = new Map<string, string>();

  applyEnv(data, readEnv(env, issues), sources);

  const where = (segments: readonly Segment[]): string | undefined => {
    for (let n = segments.length; n > 0; n--) {
      const source = sources.get(dotted(segments.slice(0, n)));
      if (source) return source;
    }
    return yaml?.locate(segments);
  };

  const fileIssues = readFileKeys(data, cwd, sources);

  const result = configSchema.safeParse(data, { reportInput: true });
  const keyIssues = [
    ...fileIssues,
    ...(result.success ? [] : result.error.issues.flatMap((zodIssue) => fromZodIssue(zodIssue, data))),
    ...checkSemantics(data),
  ];
  for (const issue of keyIssues) {
    const source = where(segmentsOf(issue.path));
    issues.push(source ? { ...issue, message: `${issue.message} (${source})` } : issue);
  }

  if (issues.length > 0 || !result.success) throw new ConfigError(issues);
  return result.data;
}

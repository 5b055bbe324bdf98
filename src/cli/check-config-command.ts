import type { Command } from 'commander';
import { stringify } from 'yaml';
import { ConfigError, isOprError } from '../errors.js';
import type { ConfigIssue } from '../errors.js';
import { formatConfigIssue, loadConfig, requireSecrets } from '../config/load-config.js';
import { redactConfig } from '../config/redact.js';
import { blockedPortWarnings } from '../config/bad-ports.js';

/** Exit code when the configuration has problems. */
export const EXIT_CONFIG_INVALID = 2;

interface CheckConfigOptions {
  config?: string;
  json?: boolean;
  strict?: boolean;
}

/**
 * `check-config [--config F] [--json]`: loads the configuration exactly as `run` does and prints the effective
 * configuration with every secret redacted (exit 0), or every problem, one per line `path: message (got: value)`,
 * on stderr (exit 2). Missing secrets the daemon needs to start are warnings (problems with `--strict`), and so are
 * ports on the Fetch standard's blocked list (browsers and the CLI cannot reach them). With `--json` both outcomes go to
 * stdout as one JSON document: `{"ok":true,"config":{…}}` or `{"ok":false,"code":"…","issues":[…]}`.
 */
export function registerCheckConfigCommand(program: Command): void {
  program
    .command('check-config')
    .description(
      'Validate the configuration (defaults ← YAML file ← OPR_* environment) and print it with secrets redacted; exit 2 listing every problem',
    )
    .option('-c, --config <file>', 'YAML configuration file')
    .option('--json', 'print one JSON document on stdout instead of YAML / lines on stderr')
    .option('--strict', 'also fail (exit 2) when a secret the daemon needs to run is missing')
    .action((options: CheckConfigOptions) => {
      process.exitCode = checkConfig(options);
    });
}

function checkConfig(options: CheckConfigOptions): number {
  const json = options.json === true;
  let issues: ConfigIssue[];
  let code: string;
  try {
    const config = loadConfig(options.config === undefined ? {} : { file: options.config });
    const missing = requireSecrets(config);
    issues = missing;
    code = 'OPR_ERR_CONFIG_INVALID';
    if (missing.length === 0 || options.strict !== true) {
      // Missing secrets do not make the file invalid (they usually come from the environment at run time): warn.
      const redacted = redactConfig(config);
      // Ports that browsers and fetch refuse are warnings too: the daemon runs there, but nobody can open or query it.
      const warnings = [...missing, ...blockedPortWarnings(config)].map(formatConfigIssue);
      if (json) process.stdout.write(`${JSON.stringify({ ok: true, config: redacted, warnings }, null, 2)}\n`);
      else {
        process.stdout.write(stringify(redacted));
        if (warnings.length > 0) process.stderr.write(`${warnings.map((w) => `warning: ${w}`).join('\n')}\n`);
      }
      return 0;
    }
  } catch (error) {
    if (!isOprError(error)) throw error;
    code = error.code;
    if (error instanceof ConfigError) {
      issues = error.issues;
    } else {
      const path = typeof error.details.path === 'string' ? error.details.path : (options.config ?? '(config)');
      issues = [
        { path, value: undefined, message: error.message.replace(`cannot read ${path}: `, 'cannot read the file: ') },
      ];
    }
  }
  if (json) {
    process.stdout.write(`${JSON.stringify({ ok: false, code, issues }, null, 2)}\n`);
  } else {
    process.stderr.write(`${issues.map(formatConfigIssue).join('\n')}\n`);
  }
  return EXIT_CONFIG_INVALID;
}

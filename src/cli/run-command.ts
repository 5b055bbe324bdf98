import closeWithGrace from 'close-with-grace';
import type { Command } from 'commander';
import { formatConfigIssue, loadConfig, requireSecrets } from '../config/load-config.js';
import { collectSecrets } from '../config/redact.js';
import type { Config } from '../config/schema.js';
import type { Daemon } from '../daemon/daemon.js';
import { startDaemon } from '../daemon/daemon.js';
import { ConfigError, isOprError } from '../errors.js';
import { createLogger } from '../logging/logger.js';
import { EXIT_CONFIG_INVALID } from './check-config-command.js';

/** Loads and checks the configuration for a command that runs the daemon; prints problems and exits 2 on error. */
export function loadRunnableConfig(file: string | undefined): Config | undefined {
  try {
    const config = loadConfig(file === undefined ? {} : { file });
    const missing = requireSecrets(config);
    if (missing.length > 0) throw new ConfigError(missing);
    return config;
  } catch (err) {
    if (!isOprError(err)) throw err;
    const lines = err instanceof ConfigError ? err.issues.map(formatConfigIssue) : [err.message];
    process.stderr.write(`${lines.join('\n')}\n`);
    process.exitCode = EXIT_CONFIG_INVALID;
    return undefined;
  }
}

/**
 * Starts the daemon and shuts it down in order on SIGINT/SIGTERM: stop accepting, stop the poller, commit the
 * queue, close the database. A second signal forces exit.
 */
export async function runUntilSignal(config: Config, onStarted?: (d: Daemon) => void): Promise<void> {
  const logger = createLogger({ level: config.log.level, pretty: config.log.pretty, secrets: collectSecrets(config) });
  let daemon: Daemon;
  try {
    daemon = await startDaemon(config, { logger });
  } catch (err) {
    logger.fatal({ err }, 'daemon failed to start');
    process.exitCode = 1;
    return;
  }
  onStarted?.(daemon);
  closeWithGrace(
    {
      delay: 15_000,
      logger: { error: (m: unknown) => logger.error(m) },
      onSecondSignal: (signal) => {
        logger.warn({ signal }, 'second signal: forcing exit');
        process.exit(130);
      },
    },
    async ({ signal, err }) => {
      if (err) logger.error({ err }, 'fatal error: shutting down');
      else logger.info({ signal }, 'signal received: shutting down');
      await daemon.close();
    },
  );
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('Run the daemon: webhook listener, poller, reconciler, event stream and dashboard')
    .option('-c, --config <file>', 'YAML configuration file')
    .action(async (opts: { config?: string }) => {
      const config = loadRunnableConfig(opts.config);
      if (config) await runUntilSignal(config);
    });
}

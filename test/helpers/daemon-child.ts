/**
 * Runs one daemon in a process of its own, for tests that kill it:
 *   node --import tsx test/helpers/daemon-child.ts '<config JSON>'
 * The argument is a configuration object (validated by the config schema). Once listening, prints one JSON line
 * `{"webhookUrl": …, "apiUrl": …, "pid": …}` on stdout. SIGTERM closes the daemon in order and exits 0.
 */
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { startDaemon } from '../../src/daemon/daemon.js';

export interface DaemonChildReady {
  webhookUrl: string;
  apiUrl: string;
  pid: number;
}

const config = configSchema.parse(JSON.parse(process.argv[2] ?? '{}'));
// Only what makes the daemon stop by itself (fatal), on stderr: a test reads why a child exited.
const daemon = await startDaemon(config, { logger: pino({ level: 'fatal' }, pino.destination(2)) });
const ready: DaemonChildReady = { webhookUrl: daemon.webhookUrl, apiUrl: daemon.apiUrl, pid: process.pid };
process.stdout.write(`${JSON.stringify(ready)}\n`);
process.once('SIGTERM', () => {
  daemon.close().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`close failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
});

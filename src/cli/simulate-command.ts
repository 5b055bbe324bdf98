import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { isOprError } from '../errors.js';
import { OPENIM_VERSIONS, resolveSimulatorOptions } from '../simulator/options.js';
import type { OpenImVersion, SimulatorOptions } from '../simulator/options.js';
import { startSimulator } from '../simulator/simulator.js';

/** Exit code for invalid options. */
export const EXIT_INVALID_OPTIONS = 2;

interface SimulateOptions {
  users: number;
  webhookUrl?: string;
  port: number;
  seed: number;
  openimVersion: OpenImVersion;
  loss: number;
  duplication: number;
  delayMs: number;
  speed: number;
  gateways: number;
  online: number;
  secret: string;
  workload: boolean;
}

function integer(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}.`);
    }
    return n;
  };
}

function decimal(min: number, max: number, what: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`expected ${what}.`);
    return n;
  };
}

function speed(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 100_000) {
    throw new InvalidArgumentError('expected a number > 0 and at most 100000 (simulated seconds per real second).');
  }
  return n;
}

function httpUrl(value: string): string {
  try {
    const u = new URL(value);
    if (u.protocol === 'http:' || u.protocol === 'https:') return value;
  } catch {
    // reported below
  }
  throw new InvalidArgumentError('expected an absolute http:// or https:// URL, e.g. http://127.0.0.1:10006/callbackExample.');
}

/**
 * `simulate`: runs the built-in OpenIM 3.8.x simulator on 127.0.0.1 until Ctrl-C, printing the API URL, the admin
 * secret and the control URL. Invalid options exit 2 with a message naming the option.
 */
export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description('Run the built-in OpenIM 3.8.x simulator (status API, presence webhooks, fault knobs) on 127.0.0.1')
    .addOption(new Option('--users <n>', 'ordinary users u1..uN').argParser(integer(0, 10_000_000)).default(1000))
    .addOption(new Option('--webhook-url <url>', 'webhooks.yml url; presence webhooks are POSTed to <url>/<command>').argParser(httpUrl))
    .addOption(new Option('--port <p>', 'port of the API and control endpoint (0 = any free port)').argParser(integer(0, 65535)).default(10002))
    .addOption(new Option('--seed <s>', 'seed of every pseudo-random decision').argParser(integer(0, 2 ** 32 - 1)).default(1))
    .addOption(
      new Option('--openim-version <v>', 'behaviour to play: 3.8.0 (string statuses, no webhooks), 3.8.1 (no webhooks), 3.8.3')
        .choices(OPENIM_VERSIONS)
        .default('3.8.3'),
    )
    .addOption(new Option('--loss <p>', 'probability that a webhook is lost').argParser(decimal(0, 1, 'a probability from 0 to 1')).default(0))
    .addOption(
      new Option('--duplication <p>', 'probability that a webhook is sent twice').argParser(decimal(0, 1, 'a probability from 0 to 1')).default(0),
    )
    .addOption(
      new Option('--delay-ms <ms>', 'extra simulated delay of every webhook').argParser(decimal(0, 86_400_000, 'milliseconds from 0 to 86400000')).default(0),
    )
    .addOption(new Option('--speed <x>', 'simulated seconds per real second').argParser(speed).default(1))
    .addOption(new Option('--gateways <n>', 'number of msggateway instances').argParser(integer(1, 64)).default(2))
    .addOption(new Option('--online <fraction>', 'share of users online').argParser(decimal(0, 1, 'a fraction from 0 to 1')).default(0.1))
    .addOption(new Option('--secret <s>', 'share.yml secret accepted by /auth/get_admin_token').default('openIM123'))
    .option('--no-workload', 'no churn: presence changes only through the control endpoint')
    .exitOverride((err) => {
      // Help and version exit 0; every usage error (unknown option, bad value) exits 2.
      process.exit(err.exitCode === 0 ? 0 : EXIT_INVALID_OPTIONS);
    })
    .action(async (options: SimulateOptions) => {
      process.exitCode = await runSimulate(options);
    });
}

async function runSimulate(o: SimulateOptions): Promise<number> {
  const simOptions: SimulatorOptions = {
    users: o.users,
    port: o.port,
    seed: o.seed,
    version: o.openimVersion,
    loss: o.loss,
    duplication: o.duplication,
    delayMs: o.delayMs,
    speed: o.speed,
    gateways: o.gateways,
    secret: o.secret,
    workload: o.workload ? { onlineFraction: o.online } : false,
  };
  if (o.webhookUrl !== undefined) simOptions.webhookUrl = o.webhookUrl;
  try {
    resolveSimulatorOptions(simOptions);
  } catch (e) {
    if (!isOprError(e)) throw e;
    process.stderr.write(`error: ${e.message}\n`);
    return EXIT_INVALID_OPTIONS;
  }
  let sim;
  try {
    sim = await startSimulator(simOptions);
  } catch (e) {
    if (!isOprError(e)) throw e;
    process.stderr.write(`error: ${e.message}\n`);
    return 1;
  }
  const lines = [
    `OpenIM ${o.openimVersion} simulator: ${o.users} users on ${o.gateways} gateway(s), speed ${o.speed}x, seed ${o.seed}`,
    `API URL:      ${sim.apiUrl}`,
    `admin secret: ${sim.secret}`,
    `admin userID: ${sim.adminUserID}`,
    `control URL:  ${sim.controlUrl}`,
    `webhooks:     ${o.webhookUrl === undefined ? 'none (no --webhook-url)' : `${o.webhookUrl}/<command>`}`,
    'Press Ctrl-C to stop.',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const running = sim;
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      process.stdout.write(`${signal}: stopping the simulator\n`);
      void running.close().then(resolve);
    };
    const onInt = (): void => stop('SIGINT');
    const onTerm = (): void => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
  return 0;
}

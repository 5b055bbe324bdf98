import type { Command } from 'commander';
import type { SubscriberJson, SubscriberList } from '../api/subscriber-routes.js';
import type { TargetOptions } from './http-client.js';
import { addTargetOptions, exitTwoOnUsageErrors, printable, printableJson, requestJson, renderTable, resolveTarget, runAction, usageError } from './http-client.js';

interface ListOptions extends TargetOptions {
  json?: boolean;
}

interface ReplayOptions extends TargetOptions {
  from?: string;
}

export function subscribersTable(list: SubscriberList): string {
  if (list.subscribers.length === 0) return 'no push subscribers are configured (see `subscribers` in the configuration)\n';
  const rows = list.subscribers.map((s) => [
    s.name,
    s.state,
    s.cursor,
    s.lag,
    s.attempts,
    s.nextAttemptAt ?? '',
    s.lastError === '' ? '-' : s.lastError,
  ]);
  return renderTable(['NAME', 'STATE', 'CURSOR', 'LAG', 'ATTEMPTS', 'NEXT ATTEMPT', 'LAST ERROR'], rows);
}

function oneLine(s: SubscriberJson, what: string): string {
  return `${printable(`${s.name}: ${what}; state ${s.state}, cursor ${s.cursor}, lag ${s.lag}`)}\n`;
}

function checkName(name: string): string {
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(name)) throw usageError(`subscriber name must be lowercase a-z 0-9 _ - (max 64), got ${JSON.stringify(name).slice(0, 70)}`);
  return name;
}

/** `subscribers list|retry|replay`: push subscribers of the running daemon (GET/POST /v1/subscribers). */
export function registerSubscribersCommand(program: Command): void {
  const group = program.command('subscribers').description('Show and steer push subscribers of the running daemon (GET/POST /v1/subscribers)');
  exitTwoOnUsageErrors(group);

  const list = group
    .command('list')
    .description('List push subscribers: state, cursor, lag (head − cursor), attempts and last error')
    .option('--json', 'print the answer as JSON');
  addTargetOptions(list);
  exitTwoOnUsageErrors(list);
  list.action(
    runAction(async (opts: ListOptions) => {
      const answer = await requestJson<SubscriberList>(resolveTarget(opts), 'GET', '/v1/subscribers');
      process.stdout.write(opts.json === true ? `${printableJson(answer, 2)}\n` : subscribersTable(answer));
    }),
  );

  const retry = group
    .command('retry')
    .description('Take a subscriber out of the dead-letter state (or its backoff) and try its pending batch now')
    .argument('<name>', 'subscriber name');
  addTargetOptions(retry);
  exitTwoOnUsageErrors(retry);
  retry.action(
    runAction(async (name: string, opts: TargetOptions) => {
      const s = await requestJson<SubscriberJson>(resolveTarget(opts), 'POST', `/v1/subscribers/${encodeURIComponent(checkName(name))}/retry`);
      process.stdout.write(oneLine(s, 'retrying now'));
    }),
  );

  const replay = group
    .command('replay')
    .description('Deliver again every retained event from a seq on (at least once; receivers deduplicate by seq)')
    .argument('<name>', 'subscriber name')
    .requiredOption('--from <seq>', 'first seq to deliver again (0 or 1: everything retained)');
  addTargetOptions(replay);
  exitTwoOnUsageErrors(replay);
  replay.action(
    runAction(async (name: string, opts: ReplayOptions) => {
      const from = opts.from ?? '';
      if (!/^\d{1,16}$/.test(from) || !Number.isSafeInteger(Number(from))) {
        throw usageError(`--from must be a seq (an integer >= 0), got ${JSON.stringify(from).slice(0, 40)}`);
      }
      const s = await requestJson<SubscriberJson>(resolveTarget(opts), 'POST', `/v1/subscribers/${encodeURIComponent(checkName(name))}/replay`, {
        body: { fromSeq: Number(from) },
      });
      process.stdout.write(oneLine(s, `replaying from #${from}`));
    }),
  );
}

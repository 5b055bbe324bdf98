import type { Command } from 'commander';
import type { Timeline } from '../api/ops-timeline.js';
import { TIMELINE_KINDS } from '../api/ops-timeline.js';
import { DURATION_HELP } from '../api/time-params.js';
import type { TargetOptions } from './http-client.js';
import { addTargetOptions, checkTimeArg, exitTwoOnUsageErrors, printable, printableJson, requestJson, resolveTarget, runAction, usageError } from './http-client.js';

interface UserOptions extends TargetOptions {
  since?: string;
  json?: boolean;
  limit?: string;
}

const KIND_WIDTH = Math.max(...TIMELINE_KINDS.map((k) => k.length));

function platformName(p: Timeline['presence'][number]): string {
  return p.platform !== '' ? p.platform : `platform ${p.platformID}`;
}

/** The timeline for a terminal: a presence header, then one aligned line per item (time, kind, summary), non-printables escaped. */
export function timelineText(t: Timeline): string {
  const out: string[] = [];
  const online = t.presence.filter((p) => p.online);
  const state =
    t.presence.length === 0
      ? 'never seen'
      : online.length > 0
        ? `online on ${online.map((p) => `${platformName(p)} (since ${p.changedAt}${p.pendingOffline ? ', offline held' : ''})`).join(', ')}`
        : 'offline';
  out.push(`${printable(`${t.userID}: ${state}`)}\n`);
  out.push(`${printable(`timeline since ${t.since}: ${t.items.length} item${t.items.length === 1 ? '' : 's'}`)}\n`);
  for (const item of t.items) out.push(`${printable(`${item.at}  ${item.kind.padEnd(KIND_WIDTH)}  ${item.summary}`)}\n`);
  return out.join('');
}

/** `user <userID> [--since 24h] [--json]`: one user's receipts, polls, events and mismatches on one time axis. */
export function registerUserCommand(program: Command): void {
  const cmd = program
    .command('user')
    .description("Print one user's timeline: webhooks received, polls, stream events and mismatches (GET /v1/users/:userID/timeline)")
    .argument('<userID>', 'the OpenIM userID')
    .option('--since <time>', `start of the timeline: ${DURATION_HELP}, an ISO time or epoch ms`, '24h')
    .option('--limit <n>', 'most entries read from each source', '500')
    .option('--json', 'print the timeline as JSON');
  addTargetOptions(cmd);
  exitTwoOnUsageErrors(cmd);
  cmd.action(
    runAction(async (userID: string, opts: UserOptions) => {
      if (userID === '' || userID.length > 256) throw usageError('userID must be 1 to 256 characters');
      const since = checkTimeArg(opts.since, '--since') ?? '24h';
      const limit = opts.limit ?? '500';
      if (!/^\d{1,6}$/.test(limit) || Number(limit) < 1) throw usageError(`--limit must be a positive integer, got ${JSON.stringify(limit)}`);
      const target = resolveTarget(opts);
      const t = await requestJson<Timeline>(
        target,
        'GET',
        `/v1/users/${encodeURIComponent(userID)}/timeline?since=${encodeURIComponent(since)}&limit=${limit}`,
      );
      if (opts.json === true) {
        process.stdout.write(`${printableJson(t, 2)}\n`);
        return;
      }
      process.stdout.write(timelineText(t));
      if (t.truncated && t.completeUntil !== null) {
        process.stderr.write(`more entries after ${t.completeUntil}: run again with --since ${t.completeUntil}\n`);
      }
    }),
  );
}

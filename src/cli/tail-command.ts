import type { Command } from 'commander';
import type { EventType, PresenceEventJson } from '../domain.js';
import { EVENT_TYPES } from '../domain.js';
import { subscribe } from '../client/subscribe.js';
import type { TargetOptions } from './http-client.js';
import { addTargetOptions, CliError, exitTwoOnUsageErrors, printable, printableJson, resolveTarget, runAction, usageError } from './http-client.js';

interface TailOptions extends TargetOptions {
  after?: string;
  user: string[];
  type: string[];
  json?: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter((s) => s.length > 0)];
}

/** `online`/`offline` or the full type name. */
export function parseTypeArg(value: string): EventType {
  const full = value.startsWith('presence.') ? value : `presence.${value}`;
  if (!(EVENT_TYPES as readonly string[]).includes(full)) {
    throw usageError(`--type must be online, offline, ${EVENT_TYPES.join(' or ')}, got ${JSON.stringify(value).slice(0, 40)}`);
  }
  return full as EventType;
}

/** One readable line: seq, time, state, user, platform, and where the event came from (non-printables escaped). */
export function eventLine(e: PresenceEventJson): string {
  const state = e.type === 'presence.online' ? 'online ' : 'offline';
  const platform = e.platform !== '' ? `${e.platform}(${e.platformID})` : `platform ${e.platformID}`;
  const user = e.userOnline ? 'user online' : 'user offline';
  let origin: string;
  if (e.source === 'poll') {
    const between =
      e.occurredAfter !== undefined && e.occurredBefore !== undefined
        ? `, happened between ${e.occurredAfter} and ${e.occurredBefore}`
        : e.occurredBefore !== undefined
          ? `, happened before ${e.occurredBefore}`
          : '';
    origin = `correction${e.mismatchID !== undefined ? ` (mismatch #${e.mismatchID}${between})` : between === '' ? '' : ` (${between.slice(2)})`}`;
  } else {
    origin = `webhook${e.occurredAt !== undefined ? ` (occurred ${e.occurredAt})` : ''}`;
  }
  return printable(`#${e.seq}  ${e.recordedAt}  ${state}  ${e.userID}  ${platform}  ${user} v${e.userVersion}  ${origin}`);
}

/** `tail [--after N] [--user U] [--type T] [--json]`: follows the stream until interrupted, resuming on its own. */
export function registerTailCommand(program: Command): void {
  const cmd = program
    .command('tail')
    .description('Follow the event stream (GET /v1/events as server-sent events), one line per event; reconnects and resumes on its own')
    .option('--after <seq>', 'start after this seq (default: the head, i.e. only new events; 0 for everything retained)')
    .option('--user <userID>', 'only events of this user (repeatable, or comma-separated)', collect, [])
    .option('--type <type>', 'only this event type: online, offline (repeatable)', collect, [])
    .option('--json', 'print each event as one line of JSON');
  addTargetOptions(cmd);
  exitTwoOnUsageErrors(cmd);
  cmd.action(
    runAction(async (opts: TailOptions) => {
      let after: number | undefined;
      if (opts.after !== undefined) {
        if (!/^\d{1,16}$/.test(opts.after) || !Number.isSafeInteger(Number(opts.after))) {
          throw usageError(`--after must be a seq (an integer >= 0), got ${JSON.stringify(opts.after).slice(0, 40)}`);
        }
        after = Number(opts.after);
      }
      const types = [...new Set(opts.type.map(parseTypeArg))];
      const users = [...new Set(opts.user)];
      const target = resolveTarget(opts);
      await new Promise<void>((resolve, reject) => {
        const stop = (): void => {
          sub.close();
          resolve();
        };
        const sub = subscribe({
          url: target.baseUrl,
          ...(target.token === undefined ? {} : { token: target.token }),
          ...(after === undefined ? {} : { after }),
          users,
          types,
          onEvent: (e) => {
            process.stdout.write(`${opts.json === true ? printableJson(e) : eventLine(e)}\n`);
          },
          onOpen: ({ after: from }) => {
            process.stderr.write(`following ${target.baseUrl}/v1/events${from === undefined ? ' from the head' : ` after #${from}`}\n`);
          },
          onError: (err) => {
            if (err.fatal) {
              process.off('SIGINT', stop);
              process.off('SIGTERM', stop);
              reject(new CliError(err.message));
              return;
            }
            process.stderr.write(`${printable(err.message)}\n`);
          },
        });
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    }),
  );
}

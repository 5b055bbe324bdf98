import type { Command } from 'commander';
import type { MismatchJson, MismatchPage } from '../api/mismatch-json.js';
import { MISMATCH_KINDS, MISMATCH_STATUSES } from '../domain.js';
import type { Cell, TargetOptions } from './http-client.js';
import {
  addTargetOptions,
  checkList,
  checkPositiveInt,
  checkTimeArg,
  exitTwoOnUsageErrors,
  formatMs,
  parseFormat,
  printable,
  printableJson,
  renderCsv,
  renderTable,
  requestJson,
  resolveTarget,
  runAction,
  usageError,
} from './http-client.js';

interface ListOptions extends TargetOptions {
  kind?: string;
  status?: string;
  user?: string;
  platform?: string;
  since?: string;
  until?: string;
  limit?: string;
  before?: string;
  incident?: string;
  format?: string;
}

interface StatusOptions extends TargetOptions {
  note?: string;
  json?: boolean;
}

function platformCell(m: MismatchJson): string {
  if (m.platformID === null) return '(all)';
  return m.platform !== '' ? m.platform : String(m.platformID);
}

const CSV_COLUMNS = [
  'id',
  'kind',
  'status',
  'userID',
  'platformID',
  'platform',
  'detectedAt',
  'occurredAfter',
  'occurredBefore',
  'eventSeq',
  'lateByMs',
  'shadow',
  'note',
] as const satisfies readonly (keyof MismatchJson)[];

export function mismatchesTable(page: MismatchPage): string {
  if (page.mismatches.length === 0) return 'no mismatches\n';
  return renderTable(
    ['ID', 'DETECTED', 'KIND', 'STATUS', 'USER', 'PLATFORM', 'LATE BY', 'NOTE'],
    page.mismatches.map((m) => [m.id, m.detectedAt, m.kind, m.status, m.userID, platformCell(m), m.lateByMs === null ? '' : formatMs(m.lateByMs), m.note]),
  );
}

export function mismatchesCsv(page: MismatchPage): string {
  return renderCsv(
    CSV_COLUMNS,
    page.mismatches.map((m) => CSV_COLUMNS.map((c): Cell => m[c])),
  );
}

function listQuery(opts: ListOptions): string {
  const params = new URLSearchParams();
  const add = (name: string, value: string | undefined): void => {
    if (value !== undefined) params.set(name, value);
  };
  add('kind', checkList(opts.kind, '--kind', MISMATCH_KINDS));
  add('status', checkList(opts.status, '--status', MISMATCH_STATUSES));
  if (opts.user !== undefined && (opts.user === '' || opts.user.length > 256)) throw usageError('--user must be a userID of 1 to 256 characters');
  add('user', opts.user);
  add('platform', opts.platform);
  add('since', checkTimeArg(opts.since, '--since'));
  add('until', checkTimeArg(opts.until, '--until'));
  add('limit', checkPositiveInt(opts.limit, '--limit'));
  add('before', checkPositiveInt(opts.before, '--before'));
  add('incident', checkPositiveInt(opts.incident, '--incident'));
  const q = params.toString();
  return q === '' ? '' : `?${q}`;
}

function registerStatusCommand(parent: Command, name: 'ack' | 'resolve', status: 'acknowledged' | 'resolved', description: string): void {
  const cmd = parent
    .command(name)
    .description(description)
    .argument('<id>', 'the mismatch id')
    .option('--note <text>', 'a note kept with the mismatch (at most 2000 characters)')
    .option('--json', 'print the updated mismatch as JSON');
  addTargetOptions(cmd);
  exitTwoOnUsageErrors(cmd);
  cmd.action(
    runAction(async (id: string, opts: StatusOptions) => {
      checkPositiveInt(id, 'id');
      if (opts.note !== undefined && opts.note.length > 2000) throw usageError(`--note is ${opts.note.length} characters; at most 2000 are kept`);
      const target = resolveTarget(opts);
      const m = await requestJson<MismatchJson>(target, 'POST', `/v1/mismatches/${id}/${name}`, { body: opts.note === undefined ? {} : { note: opts.note } });
      if (opts.json === true) process.stdout.write(`${printableJson(m, 2)}\n`);
      else process.stdout.write(`${printable(`mismatch #${m.id} (${m.kind}, user ${m.userID}, ${platformCell(m)}) is now ${status}`)}\n`);
    }),
  );
}

/** `mismatches list|ack|resolve`: browse mismatches and mark them acknowledged or resolved. */
export function registerMismatchesCommand(program: Command): void {
  const group = program.command('mismatches').description('List mismatches of the running daemon, acknowledge or resolve them');
  exitTwoOnUsageErrors(group);

  const list = group
    .command('list')
    .description('List mismatches, newest first (GET /v1/mismatches)')
    .option('--kind <kinds>', `comma-separated: ${MISMATCH_KINDS.join(', ')}`)
    .option('--status <statuses>', `comma-separated: ${MISMATCH_STATUSES.join(', ')}`)
    .option('--user <userID>', 'only this user')
    .option('--platform <platform>', 'only this platform (ID or name, e.g. 5 or Web)')
    .option('--since <time>', 'detected at or after: a duration back from now (24h), an ISO time or epoch ms')
    .option('--until <time>', 'detected before: a duration back from now, an ISO time or epoch ms')
    .option('--limit <n>', 'page size (at most api.maxPageSize)')
    .option('--before <id>', 'page cursor: only mismatches with a smaller id (the "next" of the previous page)')
    .option('--incident <id>', 'only the mismatches of this incident')
    .option('--format <format>', 'table, json or csv', 'table');
  addTargetOptions(list);
  exitTwoOnUsageErrors(list);
  list.action(
    runAction(async (opts: ListOptions) => {
      const format = parseFormat(opts.format);
      const query = listQuery(opts);
      const target = resolveTarget(opts);
      const page = await requestJson<MismatchPage>(target, 'GET', `/v1/mismatches${query}`);
      if (format === 'json') process.stdout.write(`${printableJson(page, 2)}\n`);
      else if (format === 'csv') process.stdout.write(mismatchesCsv(page));
      else {
        process.stdout.write(mismatchesTable(page));
        if (page.next !== null) process.stderr.write(`more: add --before ${page.next}\n`);
      }
    }),
  );

  registerStatusCommand(group, 'ack', 'acknowledged', 'Mark a mismatch acknowledged (POST /v1/mismatches/:id/ack)');
  registerStatusCommand(group, 'resolve', 'resolved', 'Mark a mismatch resolved (POST /v1/mismatches/:id/resolve)');
}

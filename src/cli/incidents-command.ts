import type { Command } from 'commander';
import type { IncidentPage } from '../api/incident-routes.js';
import type { MismatchJson } from '../api/mismatch-json.js';
import { INCIDENT_STATUSES } from '../incidents/incident.js';
import type { IncidentJson } from '../incidents/incident-json.js';
import type { TargetOptions } from './http-client.js';
import {
  addTargetOptions,
  checkList,
  checkPositiveInt,
  checkTimeArg,
  exitTwoOnUsageErrors,
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
import { mismatchesTable } from './mismatches-command.js';

interface ListOptions extends TargetOptions {
  status?: string;
  since?: string;
  limit?: string;
  before?: string;
  format?: string;
}

interface ShowOptions extends TargetOptions {
  json?: boolean;
}

interface AckOptions extends TargetOptions {
  note?: string;
  json?: boolean;
}

type IncidentDetail = IncidentJson & { latestMismatches: MismatchJson[] };

/** The period an incident spans, to the second. */
function span(i: IncidentJson): string {
  const a = i.firstAt.slice(0, 19).replace('T', ' ');
  return i.lastAt === i.firstAt ? a : `${a} – ${i.lastAt.slice(11, 19)}`;
}

export function incidentsTable(list: readonly IncidentJson[]): string {
  if (list.length === 0) return 'no incidents\n';
  return renderTable(
    ['ID', 'STATUS', 'CAUSE', 'WHEN (UTC)', 'MISMATCHES', 'USERS', 'TITLE'],
    list.map((i) => [i.id, i.closedReason ? `${i.status} (${i.closedReason})` : i.status, i.cause, span(i), i.mismatches, i.users, i.title]),
  );
}

export function incidentDetail(d: IncidentDetail): string {
  const out: string[] = [];
  out.push(`${printable(`incident #${d.id}: ${d.title}`)}\n`);
  out.push(`  status     ${d.status}${d.closedReason ? ` (${d.closedReason} at ${d.closedAt ?? ''})` : ''}${d.acknowledgedAt ? `, acknowledged at ${d.acknowledgedAt}` : ''}\n`);
  out.push(`  cause      ${d.cause} (${d.kind}${d.platform ? ` on ${d.platform}` : ''})\n`);
  out.push(`  when       ${d.firstAt} – ${d.lastAt}\n`);
  out.push(`  mismatches ${d.mismatches}: ${d.byKind.map((k) => `${k.count} ${k.kind} (${k.users} user${k.users === 1 ? '' : 's'})`).join(', ')}\n`);
  if (d.note !== '') out.push(`  note       ${printable(d.note)}\n`);
  out.push(`\nLatest ${d.latestMismatches.length} of its mismatches (all: openim-presence mismatches list --incident ${d.id}):\n`);
  out.push(mismatchesTable({ mismatches: d.latestMismatches, next: null }));
  return out.join('');
}

/** `incidents list|show|ack`: mismatches grouped by kind, cause and time; review and acknowledge them. */
export function registerIncidentsCommand(program: Command): void {
  const group = program.command('incidents').description('List incidents (mismatches grouped by kind, cause and time), show one, acknowledge one');
  exitTwoOnUsageErrors(group);

  const list = group
    .command('list')
    .description('List incidents, newest first (GET /v1/incidents)')
    .option('--status <statuses>', `comma-separated: ${INCIDENT_STATUSES.join(', ')}`)
    .option('--since <time>', 'with a mismatch at or after: a duration back from now (24h), an ISO time or epoch ms')
    .option('--limit <n>', 'page size (at most api.maxPageSize)')
    .option('--before <id>', 'page cursor: only incidents with a smaller id (the "next" of the previous page)')
    .option('--format <format>', 'table, json or csv', 'table');
  addTargetOptions(list);
  exitTwoOnUsageErrors(list);
  list.action(
    runAction(async (opts: ListOptions) => {
      const format = parseFormat(opts.format);
      const params = new URLSearchParams();
      const add = (name: string, value: string | undefined): void => {
        if (value !== undefined) params.set(name, value);
      };
      add('status', checkList(opts.status, '--status', INCIDENT_STATUSES));
      add('since', checkTimeArg(opts.since, '--since'));
      add('limit', checkPositiveInt(opts.limit, '--limit'));
      add('before', checkPositiveInt(opts.before, '--before'));
      const q = params.toString();
      const target = resolveTarget(opts);
      const page = await requestJson<IncidentPage>(target, 'GET', `/v1/incidents${q === '' ? '' : `?${q}`}`);
      if (format === 'json') process.stdout.write(`${printableJson(page, 2)}\n`);
      else if (format === 'csv') {
        process.stdout.write(
          renderCsv(
            ['id', 'status', 'closedReason', 'cause', 'kind', 'platform', 'firstAt', 'lastAt', 'mismatches', 'users', 'title'],
            page.incidents.map((i) => [i.id, i.status, i.closedReason, i.cause, i.kind, i.platform, i.firstAt, i.lastAt, i.mismatches, i.users, i.title]),
          ),
        );
      } else {
        const c = page.counts;
        process.stdout.write(`${c.open} open, ${c.acknowledged} acknowledged, ${c.closed} closed\n`);
        process.stdout.write(incidentsTable(page.incidents));
        if (page.next !== null) process.stderr.write(`more: add --before ${page.next}\n`);
      }
    }),
  );

  const show = group
    .command('show')
    .description('Show one incident and its latest mismatches (GET /v1/incidents/:id)')
    .argument('<id>', 'the incident id')
    .option('--json', 'print it as JSON');
  addTargetOptions(show);
  exitTwoOnUsageErrors(show);
  show.action(
    runAction(async (id: string, opts: ShowOptions) => {
      checkPositiveInt(id, 'id');
      const d = await requestJson<IncidentDetail>(resolveTarget(opts), 'GET', `/v1/incidents/${id}`);
      process.stdout.write(opts.json === true ? `${printableJson(d, 2)}\n` : incidentDetail(d));
    }),
  );

  const ack = group
    .command('ack')
    .description('Acknowledge an incident and its open mismatches (POST /v1/incidents/:id/ack)')
    .argument('<id>', 'the incident id')
    .option('--note <text>', 'a note kept with the incident (at most 2000 characters)')
    .option('--json', 'print the updated incident as JSON');
  addTargetOptions(ack);
  exitTwoOnUsageErrors(ack);
  ack.action(
    runAction(async (id: string, opts: AckOptions) => {
      checkPositiveInt(id, 'id');
      if (opts.note !== undefined && opts.note.length > 2000) throw usageError(`--note is ${opts.note.length} characters; at most 2000 are kept`);
      const i = await requestJson<IncidentJson>(resolveTarget(opts), 'POST', `/v1/incidents/${id}/ack`, { body: opts.note === undefined ? {} : { note: opts.note } });
      if (opts.json === true) process.stdout.write(`${printableJson(i, 2)}\n`);
      else process.stdout.write(`${printable(`incident #${i.id} (${i.title}) is now ${i.status}; its open mismatches are acknowledged`)}\n`);
    }),
  );
}

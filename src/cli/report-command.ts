import type { Command } from 'commander';
import type { OpsReport } from '../api/ops-report.js';
import { DURATION_HELP } from '../api/time-params.js';
import { MISMATCH_KINDS } from '../domain.js';
import { incidentsTable } from './incidents-command.js';
import type { Cell, TargetOptions } from './http-client.js';
import {
  addTargetOptions,
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

interface ReportOptions extends TargetOptions {
  since?: string;
  format?: string;
  top?: string;
}

function platformCell(platformID: number | null, platform: string): string {
  if (platformID === null) return '(all)';
  return platform !== '' ? platform : String(platformID);
}

function percent(share: number | null): string {
  return share === null ? '-' : `${Math.round(share * 100)}%`;
}

export function reportTable(r: OpsReport): string {
  const out: string[] = [];
  out.push(`${printable(`Report since ${r.since} (generated ${r.generatedAt})`)}\n\n`);
  const ic = r.incidents.counts;
  out.push(`Incidents: ${ic.open} open, ${ic.acknowledged} acknowledged, ${ic.closed} closed; ${r.incidents.openMismatches} open mismatches in the period\n`);
  out.push(r.incidents.list.length === 0 ? 'none\n' : incidentsTable(r.incidents.list));
  out.push('Review one: openim-presence incidents show <id>; acknowledge it and its mismatches: openim-presence incidents ack <id>\n\n');
  out.push(`Mismatches: ${r.mismatches.total}\n`);
  out.push(renderTable(['KIND', 'COUNT'], MISMATCH_KINDS.map((k) => [k, r.mismatches.byKind[k]])));
  if (r.mismatches.byPlatform.length > 0) {
    out.push('\n');
    out.push(renderTable(['PLATFORM', 'COUNT'], r.mismatches.byPlatform.map((p) => [platformCell(p.platformID, p.platform), p.count])));
  }
  out.push(`\nWebhook health (last ${r.webhookHealth.windowMinutes} min): ${r.webhookHealth.state}\n`);
  if (r.webhookHealth.entries.length === 0) out.push('no webhook or correction seen in the window\n');
  else {
    out.push(
      renderTable(
        ['COMMAND', 'PLATFORM', 'STATE', 'BY WEBHOOK', 'BY CORRECTION', 'CORRECTED', 'WEBHOOKS RECEIVED', 'LATE P50', 'LATE P99', 'MESSAGE'],
        r.webhookHealth.entries.map((h) => [
          h.command,
          platformCell(h.platformID, h.platform),
          h.state,
          h.byWebhook,
          h.byCorrection,
          percent(h.correctionShare),
          h.receipts,
          formatMs(h.lateP50Ms),
          formatMs(h.lateP99Ms),
          h.message,
        ]),
      ),
    );
  }
  out.push('\nTop users by mismatches\n');
  out.push(r.topUsers.length === 0 ? 'none\n' : renderTable(['USER', 'MISMATCHES'], r.topUsers.map((u) => [u.userID, u.count])));
  const l = r.lateWebhooks;
  out.push(
    `\nLate webhooks: ${l.count}` +
      (l.count > 0 ? ` (p50 ${formatMs(l.p50Ms)}, p90 ${formatMs(l.p90Ms)}, p99 ${formatMs(l.p99Ms)}, max ${formatMs(l.maxMs)})` : '') +
      '\n',
  );
  const p = r.polls;
  const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;
  out.push(
    `\nPolling: ${plural(p.runs, 'run')} (${plural(p.cycles, 'cycle')}, ${plural(p.confirms, 'confirm poll')}, ${plural(p.discoveries, 'discovery sweep')}); ` +
      `last cycle ${p.lastCycleAt ?? 'never'}\n` +
      `  failed: ${p.runsWithErrors} of ${plural(p.runs, 'run')} recorded errors (${plural(p.errors, 'error')} in all)\n` +
      `  found: ${plural(p.disagreements, 'disagreement')}, ${plural(p.corrections, 'correction')}\n` +
      `  work: ${plural(p.requests, 'request')}, ${plural(p.usersPolled, 'user poll')} (a user polled by 10 runs counts 10 times)\n`,
  );
  return out.join('');
}

/** Long form: one row per figure, `section,name,platform,value,detail`. */
export function reportCsv(r: OpsReport): string {
  const rows: Cell[][] = [
    ['report', 'since', '', r.since, ''],
    ['report', 'generated_at', '', r.generatedAt, ''],
  ];
  for (const st of ['open', 'acknowledged', 'closed'] as const) rows.push(['incidents', st, '', r.incidents.counts[st], '']);
  for (const i of r.incidents.list) rows.push(['incident', String(i.id), platformCell(i.platformID, i.platform), i.mismatches, `${i.status}: ${i.title}`]);
  rows.push(['mismatches', 'total', '', r.mismatches.total, '']);
  for (const k of MISMATCH_KINDS) rows.push(['mismatches_by_kind', k, '', r.mismatches.byKind[k], '']);
  for (const p of r.mismatches.byPlatform) rows.push(['mismatches_by_platform', '', platformCell(p.platformID, p.platform), p.count, '']);
  for (const p of r.mismatches.byKindAndPlatform) rows.push(['mismatches_by_kind_platform', p.kind, platformCell(p.platformID, p.platform), p.count, '']);
  rows.push(['webhook_health', 'overall', '', r.webhookHealth.state, `window ${r.webhookHealth.windowMinutes} min`]);
  for (const h of r.webhookHealth.entries) rows.push(['webhook_health', h.command, platformCell(h.platformID, h.platform), h.state, h.message]);
  for (const u of r.topUsers) rows.push(['top_user', u.userID, '', u.count, '']);
  const l = r.lateWebhooks;
  rows.push(['late_webhook_ms', 'count', '', l.count, ''], ['late_webhook_ms', 'p50', '', l.p50Ms, ''], ['late_webhook_ms', 'p90', '', l.p90Ms, '']);
  rows.push(['late_webhook_ms', 'p99', '', l.p99Ms, ''], ['late_webhook_ms', 'max', '', l.maxMs, '']);
  const p = r.polls;
  const pollFigures: [string, Cell][] = [
    ['runs', p.runs],
    ['cycles', p.cycles],
    ['confirms', p.confirms],
    ['discoveries', p.discoveries],
    ['errors', p.errors],
    ['runs_with_errors', p.runsWithErrors],
    ['disagreements', p.disagreements],
    ['corrections', p.corrections],
    ['users_polled', p.usersPolled],
    ['requests', p.requests],
    ['last_cycle_at', p.lastCycleAt],
  ];
  for (const [name, value] of pollFigures) rows.push(['poll', name, '', value, '']);
  return renderCsv(['section', 'name', 'platform', 'value', 'detail'], rows);
}

/** `report [--since 24h] [--format table|json|csv]`: mismatches, webhook health, late webhooks and polling. */
export function registerReportCommand(program: Command): void {
  const cmd = program
    .command('report')
    .description('Print the mismatch and webhook-health report of the running daemon (GET /v1/report)')
    .option('--since <time>', `start of the period: ${DURATION_HELP}, an ISO time or epoch ms`, '24h')
    .option('--format <format>', 'table, json or csv', 'table')
    .option('--top <n>', 'how many top users to list (1-100)', '10');
  addTargetOptions(cmd);
  exitTwoOnUsageErrors(cmd);
  cmd.action(
    runAction(async (opts: ReportOptions) => {
      const format = parseFormat(opts.format);
      const since = checkTimeArg(opts.since, '--since') ?? '24h';
      const top = opts.top ?? '10';
      if (!/^\d{1,3}$/.test(top) || Number(top) < 1 || Number(top) > 100) throw usageError(`--top must be an integer from 1 to 100, got ${JSON.stringify(top)}`);
      const target = resolveTarget(opts);
      const report = await requestJson<OpsReport>(target, 'GET', `/v1/report?since=${encodeURIComponent(since)}&top=${top}`);
      if (format === 'json') process.stdout.write(`${printableJson(report, 2)}\n`);
      else if (format === 'csv') process.stdout.write(reportCsv(report));
      else process.stdout.write(reportTable(report));
    }),
  );
}

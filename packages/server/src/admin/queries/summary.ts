import { z } from 'zod';
import { todayUtc } from '../../calendar';
import type { Storage } from '../../db/storage';
import { add, count, where } from '../pagination';
import { FAILED_SQL } from './messages';
import { bool } from './shared';

export const summaryFilterSchema = z.object({ includeTest: bool.default(false) }).strict();

/** Counts for a dashboard: test data excluded unless asked for. */
export async function summary(db: Storage, opts: { includeTest: boolean; now: Date }) {
  const testClause = opts.includeTest ? '' : 'WHERE test = 0';
  // One sequential scan for both breakdowns. Grouped family first: no index leads with family, so SQLite reads
  // the table in order instead of walking the status index with a random read per row (the portable spelling
  // of SQLite's NOT INDEXED, which PostgreSQL does not know; summary.test.ts checks the plan).
  const groups = await db.all<{ status: string; family: string; n: number }>(
    `SELECT status, family, COUNT(*) AS n FROM entitlements ${testClause} GROUP BY family, status`,
  );
  const tally = (key: 'status' | 'family') => {
    const out: Record<string, number> = {};
    for (const g of groups) out[g[key]] = (out[g[key]] ?? 0) + g.n;
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
  };
  const since = new Date(opts.now.getTime() - 86_400_000).toISOString();
  const msgWhere = where();
  if (!opts.includeTest) add(msgWhere, 'test = 0');
  add(msgWhere, 'created_at >= ?', since);
  const messagesLastDay = await count(db, { from: 'marketplace_messages' }, msgWhere);
  add(msgWhere, FAILED_SQL);
  const failedMessagesLastDay = await count(db, { from: 'marketplace_messages' }, msgWhere);
  return {
    entitlements: {
      total: groups.reduce((sum, g) => sum + g.n, 0),
      byStatus: tally('status'),
      byFamily: tally('family'),
    },
    messagesLastDay,
    failedMessagesLastDay,
    since24h: since,
    activations: await activationsByDay(db, opts),
  };
}

export const ACTIVATION_CHART_DAYS = 30;

/**
 * Devices activated per UTC day over the last 30 days (today included), every day present (0 when none), for
 * the overview's chart; test licenses' devices excluded unless asked for.
 */
export async function activationsByDay(db: Storage, opts: { includeTest: boolean; now: Date }) {
  const days: string[] = [];
  for (let i = ACTIVATION_CHART_DAYS - 1; i >= 0; i--) {
    days.push(todayUtc(new Date(opts.now.getTime() - i * 86_400_000)));
  }
  const since = `${days[0]}T00:00:00.000Z`;
  const rows = await db.all<{ day: string; n: number }>(
    `SELECT substr(created_at, 1, 10) AS day, COUNT(*) AS n FROM activations
      WHERE created_at >= ? ${opts.includeTest ? '' : 'AND entitlement_id NOT IN (SELECT id FROM entitlements WHERE test = 1)'}
      GROUP BY day`,
    [since],
  );
  const byDay = new Map(rows.map((r) => [r.day, r.n]));
  const perDay = days.map((day) => ({ day, activations: byDay.get(day) ?? 0 }));
  return { since, total: perDay.reduce((sum, d) => sum + d.activations, 0), perDay };
}

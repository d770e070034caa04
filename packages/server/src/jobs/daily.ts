import { LicensorError } from '@licensor/shared';
import { todayUtc } from '../calendar';
import type { AppContext } from '../context';
import { pruneRateLimits } from '../db/postgres/rateLimitStore';
import type { PostgresDatabase } from '../db/postgres/storage';
import { inTx } from '../db/storage';
import { pruneMessages } from '../koogallery/messageLog';
import type { LicenseApiResult, LicenseCodeInfo } from '../koogallery/openApi';
import { LICENSE_API } from '../koogallery/resultCodes';
import { parseCompactTime } from '../koogallery/time';
import { changeEntitlement, type EntitlementPatch, type EntitlementRow, findEntitlementByCode } from '../licensing';
import { pruneWebhookHistory } from '../webhooks/store';
import { emitDailyDutiesFailed } from '../webhooks/systemEvents';

/**
 * Daily duties of family B (spec §7.3, §7.4): for every code used on a day, query its state at the
 * marketplace (v2 heartbeat, ≤100 codes a call) and report how many devices used it (usage statistics,
 * ≤100 codes a call). A finished day is planned exactly once: the plan row in `daily_runs` and the outbox
 * items are written in one transaction, and every batch is an outbox item with a per-day dedupe key, so a
 * crash, a restart or a second instance neither loses nor repeats a day, and failures retry with backoff.
 *
 * The usage API carries no date, so a day is reported once it is over (shortly after 00:00 UTC): the
 * count is then complete. Days missed while the server was down are caught up for a week.
 */

export const DAILY_QUERY = 'daily.query';
export const DAILY_USAGE = 'daily.usage';
export const DAILY_PLAN = 'daily.plan';
export const DAILY_ACTOR = 'system:daily';
export const BATCH_SIZE = 100;
export const CATCH_UP_DAYS = 7;
/** A day is planned this long after it ends, so check-ins of its last seconds are recorded first. */
const SETTLE_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

const OK = LICENSE_API.success;
/** Whole-batch refusals caused by one code: the batch is retried code by code so the others still go through. */
const BATCH_HAS_BAD_CODE = new Set<string>([
  LICENSE_API.invalidCodeInBatch,
  LICENSE_API.noSuchCode,
  LICENSE_API.notActivated,
  LICENSE_API.alreadyActivated,
]);
/** Per-code answers that retrying cannot change (unknown / not activated / illegal state): skipped. */
const CODE_SKIPPED = new Set<string>([...BATCH_HAS_BAD_CODE, LICENSE_API.invalidParam]);

export interface QueryPayload {
  day: string;
  batch: number;
  /** Batches of this job that day. */
  of: number;
  codes: string[];
}
export interface UsagePayload {
  day: string;
  batch: number;
  of: number;
  usage: { code: string; devices: number }[];
}

const dedupeKey = (kind: string, day: string, batch: number) => `${kind}:${day}:${batch}`;

function batches<T>(items: T[], size = BATCH_SIZE): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** A marketplace business error: its internal error is worth retrying, anything else needs a person. */
function marketplaceError(what: string, r: LicenseApiResult<unknown>): LicensorError {
  const retry = r.errorCode === LICENSE_API.internal || r.errorCode === '';
  return new LicensorError(
    retry ? 'MARKETPLACE_UNAVAILABLE' : 'MARKETPLACE_REJECTED',
    `${what} failed: ${r.errorCode || 'no error_code'} ${r.errorMsg}`.trim(),
    { errorCode: r.errorCode },
  );
}

export interface PlanResult {
  day: string;
  planned: boolean;
  codes: number;
  queryBatches: number;
  usageBatches: number;
}

/**
 * Plans one day: the family-B codes used that day (not released), one query item per 100 codes and one
 * usage item per 100 non-test codes. Returns planned=false when the day had been planned before.
 */
export async function planDay(ctx: Pick<AppContext, 'db' | 'outbox' | 'now'>, day: string): Promise<PlanResult> {
  const { db } = ctx;
  return await db.transaction(async (tx) => {
    const nowIso = ctx.now().toISOString();
    const claimed = await tx.run(
      `INSERT INTO daily_runs (day, job, finished_at, detail) VALUES (?, ?, ?, NULL) ON CONFLICT DO NOTHING`,
      [day, DAILY_PLAN, nowIso],
    );
    if (claimed.changes === 0) return { day, planned: false, codes: 0, queryBatches: 0, usageBatches: 0 };
    const rows = await tx.all<{ code: string; devices: number; test: number }>(
      `SELECT u.code AS code, COUNT(DISTINCT u.device) AS devices, MAX(e.test) AS test
         FROM code_usage u JOIN entitlements e ON e.code = u.code
        WHERE u.day = ? AND e.family = 'B' AND e.status != 'released'
        GROUP BY u.code ORDER BY u.code`,
      [day],
    );
    // Test codes (marketplace debugging) are queried like any other, but are never reported as usage.
    const queryBatches = batches(rows.map((r) => r.code));
    const usageBatches = batches(rows.filter((r) => !r.test).map((r) => ({ code: r.code, devices: r.devices })));
    for (const [batch, codes] of queryBatches.entries()) {
      await ctx.outbox.enqueue(tx, DAILY_QUERY, { day, batch, of: queryBatches.length, codes } satisfies QueryPayload, {
        dedupeKey: dedupeKey(DAILY_QUERY, day, batch),
      });
    }
    for (const [batch, usage] of usageBatches.entries()) {
      await ctx.outbox.enqueue(tx, DAILY_USAGE, { day, batch, of: usageBatches.length, usage } satisfies UsagePayload, {
        dedupeKey: dedupeKey(DAILY_USAGE, day, batch),
      });
    }
    // A job with nothing to do is finished as soon as it is planned.
    for (const [job, n] of [
      [DAILY_QUERY, queryBatches.length],
      [DAILY_USAGE, usageBatches.length],
    ] as const) {
      if (n === 0) {
        await tx.run(
          'INSERT INTO daily_runs (day, job, finished_at, detail) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
          [day, job, nowIso, JSON.stringify({ batches: 0 })],
        );
      }
    }
    const detail = { codes: rows.length, queryBatches: queryBatches.length, usageBatches: usageBatches.length };
    await tx.run('UPDATE daily_runs SET detail = ? WHERE day = ? AND job = ?', [
      JSON.stringify(detail),
      day,
      DAILY_PLAN,
    ]);
    return { day, planned: true, ...detail };
  });
}

/** Days that are over (and settled) within the catch-up window, oldest first. */
export function dueDays(now: Date, window = CATCH_UP_DAYS): string[] {
  // Counting from `now - settle`, "one day back" is yesterday only once today's settle time has passed.
  const settled = now.getTime() - SETTLE_MS;
  const days: string[] = [];
  for (let i = window; i >= 1; i--) days.push(todayUtc(new Date(settled - i * DAY_MS)));
  return days;
}

/**
 * The next daily duty for the overview: the day that will be planned next and when (right away when a due day
 * is still unplanned, else 5 minutes after the coming UTC midnight), whether this server runs the scheduler,
 * and the last day planned with its batch counts.
 */
export async function nextDailyDuty(ctx: Pick<AppContext, 'db' | 'now' | 'config'>) {
  const now = ctx.now();
  const planned = async (day: string) =>
    (await ctx.db.first('SELECT 1 FROM daily_runs WHERE day = ? AND job = ?', [day, DAILY_PLAN])) !== undefined;
  let overdue: string | undefined;
  for (const day of dueDays(now)) {
    if (!(await planned(day))) {
      overdue = day;
      break;
    }
  }
  const settled = now.getTime() - SETTLE_MS;
  const nextMidnight = Date.parse(`${todayUtc(new Date(settled))}T00:00:00.000Z`) + DAY_MS;
  const last = await ctx.db.first<{ day: string; finished_at: string | null; detail: string | null }>(
    'SELECT day, finished_at, detail FROM daily_runs WHERE job = ? ORDER BY day DESC LIMIT 1',
    [DAILY_PLAN],
  );
  return {
    day: overdue ?? todayUtc(new Date(settled)),
    at: overdue ? now.toISOString() : new Date(nextMidnight + SETTLE_MS).toISOString(),
    scheduler: ctx.config.scheduler,
    lastPlanned: last
      ? {
          day: last.day,
          at: last.finished_at,
          codes: last.detail ? ((JSON.parse(last.detail) as { codes?: number }).codes ?? 0) : 0,
        }
      : null,
  };
}

/**
 * One line a tick: a first start catches up on the whole window (7 days), which is by design, not 7 events.
 * `days` lists what this instance planned: another instance may have claimed some days of the range.
 */
function logPlanned(log: AppContext['log'], results: PlanResult[]): void {
  if (results.length === 0) return;
  const from = results[0]!.day;
  const to = results.at(-1)!.day;
  const sum = (k: 'codes' | 'queryBatches' | 'usageBatches') => results.reduce((n, r) => n + r[k], 0);
  log.info(
    {
      count: results.length,
      from,
      to,
      days: results.map((r) => r.day),
      codes: sum('codes'),
      queryBatches: sum('queryBatches'),
      usageBatches: sum('usageBatches'),
    },
    `daily runs planned: ${results.length} ${results.length === 1 ? `day, ${from}` : `days, ${from} to ${to}`}`,
  );
}

/** Plans every due day not planned yet; cheap when there is nothing to do (one primary-key lookup a day). */
export async function planDueDays(ctx: Pick<AppContext, 'db' | 'outbox' | 'now' | 'log'>): Promise<PlanResult[]> {
  const results: PlanResult[] = [];
  try {
    for (const day of dueDays(ctx.now())) {
      const done = await ctx.db.first('SELECT 1 FROM daily_runs WHERE day = ? AND job = ?', [day, DAILY_PLAN]);
      if (done) continue;
      const r = await planDay(ctx, day);
      if (r.planned) {
        ctx.log.debug(
          { day, codes: r.codes, queryBatches: r.queryBatches, usageBatches: r.usageBatches },
          'daily run planned',
        );
        results.push(r);
      }
    }
  } finally {
    // Also when a later day fails: the days already planned are said at info level.
    logPlanned(ctx.log, results);
  }
  return results;
}

/**
 * Records a batch as done and, when it is the last of its day, the job as finished. Batches run
 * concurrently, so completion is counted in rows written by each batch's own transaction (SQLite serialises
 * them: the last one to commit sees all the others), never inferred from the outbox status, which is only
 * set after the handler returns.
 */
async function finishBatch(
  ctx: Pick<AppContext, 'db' | 'now'>,
  kind: string,
  p: { day: string; batch: number; of: number },
  detail: unknown,
): Promise<boolean> {
  const at = ctx.now().toISOString();
  await ctx.db.run(
    'INSERT INTO daily_runs (day, job, finished_at, detail) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    [p.day, `${kind}#${p.batch}`, at, JSON.stringify(detail)],
  );
  // `#`…`$` is the range of this job's batch rows on the (day, job) primary key.
  const done = await ctx.db.first<{ n: number }>(
    'SELECT COUNT(*) AS n FROM daily_runs WHERE day = ? AND job > ? AND job < ?',
    [p.day, `${kind}#`, `${kind}$`],
  );
  if ((done?.n ?? 0) < p.of) return false;
  await ctx.db.run(
    'INSERT INTO daily_runs (day, job, finished_at, detail) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    [p.day, kind, at, JSON.stringify({ batches: p.of })],
  );
  return true;
}

/**
 * Reflects one LicenseInfo in local state. The marketplace owns expiry and the EXPIRED/RELEASED states;
 * the merchant's own decisions (suspended, revoked) are kept, only their expiry follows the marketplace.
 */
export async function applyCodeInfo(
  ctx: Pick<AppContext, 'db' | 'now' | 'entitlementChanged'>,
  info: LicenseCodeInfo,
  day: string,
): Promise<EntitlementRow | undefined> {
  const code = info.license_code;
  if (!code) return undefined;
  const ent = await findEntitlementByCode(ctx.db, code);
  if (ent?.family !== 'B') return undefined;
  const now = ctx.now();
  const patch: EntitlementPatch = {};
  const expiry = info.expire_time ? parseCompactTime(String(info.expire_time)) : null;
  if (expiry && expiry.toISOString() !== ent.expires_at) patch.expires_at = expiry.toISOString();
  const effectiveExpiry = expiry ?? (ent.expires_at ? new Date(ent.expires_at) : null);
  const status = String(info.status ?? '').toUpperCase();
  if (status === 'RELEASED' && ent.status !== 'released') patch.status = 'released';
  else if (status === 'EXPIRED' && (ent.status === 'active' || ent.status === 'provisioning')) patch.status = 'expired';
  else if (status === 'ALIVE') {
    // Renewed at the marketplace while we thought it over (e.g. a refresh notification never arrived).
    if (ent.status === 'expired' && (!effectiveExpiry || effectiveExpiry > now)) patch.status = 'active';
    if (ent.status === 'frozen' && expiry && expiry > now) patch.status = 'active';
  }
  if (Object.keys(patch).length === 0) return undefined;
  return await changeEntitlement(
    ctx,
    ent,
    patch,
    DAILY_ACTOR,
    'entitlement.synced',
    { day, marketplaceStatus: status || null, expireTime: info.expire_time ?? null },
    now,
  );
}

/** Runs `fn` over items with at most `limit` at a time. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export async function runQueryBatch(ctx: AppContext, p: QueryPayload) {
  const r = await ctx.openApi.queryCodes(p.codes);
  let infos: LicenseCodeInfo[];
  const skipped: { code: string; errorCode: string }[] = [];
  if (r.errorCode === OK) {
    infos = r.data?.license_list ?? [];
  } else if (BATCH_HAS_BAD_CODE.has(r.errorCode)) {
    const answers = await pool(p.codes, 5, async (code) => ({ code, r: await ctx.openApi.queryCode(code) }));
    infos = [];
    for (const { code, r: one } of answers) {
      if (one.errorCode === OK && one.data) infos.push({ ...one.data, license_code: one.data.license_code ?? code });
      else if (CODE_SKIPPED.has(one.errorCode)) skipped.push({ code, errorCode: one.errorCode });
      else throw marketplaceError(`Code query for ${code}`, one);
    }
  } else {
    throw marketplaceError(`Batch code query (${p.codes.length} codes)`, r);
  }
  const changed = await ctx.db.transaction(async (tx) => {
    const t = inTx(ctx, tx);
    const changed: string[] = [];
    for (const info of infos) {
      if (info.license_code && !p.codes.includes(info.license_code)) continue;
      if (await applyCodeInfo(t, info, p.day)) changed.push(info.license_code!);
    }
    await finishBatch(t, DAILY_QUERY, p, { codes: p.codes.length, changed: changed.length, skipped: skipped.length });
    return changed;
  });
  if (skipped.length)
    ctx.log.warn({ day: p.day, batch: p.batch, skipped }, 'daily query skipped codes the marketplace refused');
  ctx.log.info({ day: p.day, batch: p.batch, codes: p.codes.length, changed: changed.length }, 'daily code query done');
}

const usageEntries = (usage: UsagePayload['usage']) =>
  usage.map((u) => ({ license: u.code, software_usage_Info: [{ active_num: u.devices }] }));

export async function runUsageBatch(ctx: AppContext, p: UsagePayload) {
  const r = await ctx.openApi.reportUsage(usageEntries(p.usage));
  const skipped: { code: string; errorCode: string }[] = [];
  if (r.errorCode !== OK) {
    if (!BATCH_HAS_BAD_CODE.has(r.errorCode)) throw marketplaceError(`Usage report (${p.usage.length} codes)`, r);
    // One unknown code sinks the whole report: send the codes one by one so the rest are counted.
    const answers = await pool(p.usage, 5, async (u) => ({ u, r: await ctx.openApi.reportUsage(usageEntries([u])) }));
    for (const { u, r: one } of answers) {
      if (one.errorCode === OK) continue;
      if (CODE_SKIPPED.has(one.errorCode)) skipped.push({ code: u.code, errorCode: one.errorCode });
      else throw marketplaceError(`Usage report for ${u.code}`, one);
    }
  }
  // The marketplace may list codes it did not accept (data.check_fail_…); keep them for the operator.
  const checkFailed = Object.entries(r.data ?? {})
    .filter(([k]) => k.startsWith('check_fail'))
    .flatMap(([, v]) => (Array.isArray(v) ? v : [v]));
  await ctx.db.transaction(async (tx) => {
    const t = inTx(ctx, tx);
    return finishBatch(t, DAILY_USAGE, p, {
      codes: p.usage.length,
      skipped: skipped.length,
      checkFailed: checkFailed.length,
    });
  });
  if (skipped.length || checkFailed.length) {
    ctx.log.warn(
      { day: p.day, batch: p.batch, skipped, checkFailed },
      'daily usage report: some codes were not accepted',
    );
  }
}

/** Outbox handlers of the daily jobs. Safe to call more than once. */
export function registerDailyJobs(ctx: AppContext): void {
  ctx.outbox.register(DAILY_QUERY, (payload) => runQueryBatch(ctx, payload as QueryPayload));
  ctx.outbox.register(DAILY_USAGE, (payload) => runUsageBatch(ctx, payload as UsagePayload));
}

export const SCHEDULER_INTERVAL_MS = 15 * 60_000;

/** The merchant's systems hear of it (`daily_duties.failed`); a storage failure may refuse that too: logged. */
async function reportDailyFailure(
  ctx: Pick<AppContext, 'db' | 'now' | 'log'>,
  stage: 'planning' | 'message-prune',
  err: unknown,
) {
  try {
    await emitDailyDutiesFailed(ctx, stage, err);
  } catch (emitErr) {
    ctx.log.error({ err: emitErr }, 'could not record the daily_duties.failed event');
  }
}

/**
 * Message-log retention (LICENSOR_MESSAGE_RETENTION_DAYS / LICENSOR_REFUSED_RETENTION_DAYS), once a UTC day:
 * returns the day it last ran so the scheduler skips later ticks of the same day.
 */
export async function pruneMessagesDaily(
  ctx: Pick<AppContext, 'db' | 'config' | 'log' | 'now' | 'messages'>,
  lastDay: string | undefined,
): Promise<string | undefined> {
  const today = ctx.now().toISOString().slice(0, 10);
  if (today === lastDay) return lastDay;
  try {
    await ctx.messages.flush();
    const deleted = await pruneMessages(ctx.db, ctx.now(), ctx.config.retention);
    if (deleted.live || deleted.refused)
      ctx.log.info({ deleted, retention: ctx.config.retention }, 'message log pruned');
    // Webhook deliveries are kept as long as the marketplace messages (LICENSOR_MESSAGE_RETENTION_DAYS).
    const webhooks = await pruneWebhookHistory(ctx.db, ctx.now(), ctx.config.retention.liveDays);
    if (webhooks.deliveries || webhooks.events) ctx.log.info({ deleted: webhooks }, 'webhook history pruned');
    // Shared rate-limit counts (PostgreSQL only; SQLite counts in memory): rows of windows that have ended.
    if (ctx.db.dialect === 'postgres' && 'pg' in ctx.db) {
      const windows = await pruneRateLimits((ctx.db as PostgresDatabase).pg, ctx.now().getTime());
      if (windows) ctx.log.info({ deleted: windows }, 'ended rate-limit windows pruned');
    }
    return today;
  } catch (err) {
    ctx.log.error({ err }, 'message log prune failed; will try again at the next tick');
    await reportDailyFailure(ctx, 'message-prune', err);
    return lastDay;
  }
}

/**
 * Starts the daily scheduler: plans due days now (catching up after downtime) and every 15 minutes.
 * The outbox worker runs the planned batches. Returns a function that stops the scheduler.
 */
export async function startScheduler(ctx: AppContext, opts: { intervalMs?: number } = {}): Promise<() => void> {
  registerDailyJobs(ctx);
  let prunedDay: string | undefined;
  const tick = async () => {
    try {
      await planDueDays(ctx);
    } catch (err) {
      ctx.log.error({ err }, 'daily scheduler: planning failed; will try again at the next tick');
      await reportDailyFailure(ctx, 'planning', err);
    }
    prunedDay = await pruneMessagesDaily(ctx, prunedDay);
  };
  await tick();
  const timer = setInterval(tick, opts.intervalMs ?? SCHEDULER_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

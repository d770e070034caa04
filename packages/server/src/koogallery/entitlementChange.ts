import type { z } from 'zod';
import type { AppContext } from '../context';
import { inTx } from '../db/storage';
import type { EntitlementRow } from '../licensing';
import { type Answer, ok } from './resultCodes';
import { reviveForDialTest, usable } from './testTraffic';
import { validate } from './validate';

export interface EntitlementChange<S extends z.ZodType<{ testFlag: boolean }>, Input> {
  /** The activity's name: the audit log's actor is `marketplace:<activity>`. */
  activity: string;
  schema: S;
  /** The entitlement the message names, in its family. */
  find: (ctx: AppContext, message: z.infer<S>) => Promise<EntitlementRow | undefined>;
  /** The answer for an unknown or released entitlement: 000003 for most, success for releases and expiries. */
  missing: (message: z.infer<S>) => Answer;
  /**
   * A replayed debug case brings its released test entitlement back first (testTraffic.ts). Off for releases:
   * releasing a released entitlement is already done.
   */
  reviveForDialTest: boolean;
  /** Applies the change to a usable entitlement, in the transaction (a retried change applies nothing). */
  change: (ctx: AppContext, ent: EntitlementRow, message: z.infer<S>, input: Input) => Promise<void>;
}

/**
 * The skeleton every marketplace change notification shares: validate the message → one transaction → find the
 * entitlement → not found or released: the activity's answer → apply the change → success. The transaction makes
 * the change and its audit entries durable before the answer (and the marketplace's retries idempotent through
 * entitlement_changes' unique key, in the handlers that record one).
 */
export function entitlementChangeHandler<S extends z.ZodType<{ testFlag: boolean }>, Input = Record<string, unknown>>(
  spec: EntitlementChange<S, Input>,
): (ctx: AppContext, input: Input) => Promise<Answer> {
  const actor = `marketplace:${spec.activity}`;
  return async (ctx, input) => {
    const v = validate(spec.schema, input);
    if ('answer' in v) return v.answer;
    const message: z.infer<S> = v.data;
    return await ctx.db.transaction(async (tx) => {
      const t = inTx(ctx, tx);
      const found = await spec.find(t, message);
      const ent = found && spec.reviveForDialTest ? await reviveForDialTest(t, found, message.testFlag, actor) : found;
      if (!usable(ent)) return spec.missing(message);
      await spec.change(t, ent, message, input);
      return ok();
    });
  };
}

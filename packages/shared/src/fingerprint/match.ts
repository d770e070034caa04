import { z } from 'zod';
import { COMPONENT_NAMES, type ComponentName, type MatchResult, type MatchRule } from './types';

export const DEFAULT_MATCH_RULE: MatchRule = { type: 'allButOne' };

export const matchRuleSchema: z.ZodType<MatchRule> = z.discriminatedUnion('type', [
  z.object({ type: z.literal('all') }),
  z.object({ type: z.literal('allButOne') }),
  // More than the number of components could never match.
  z.object({ type: z.literal('atLeast'), count: z.number().int().min(1).max(COMPONENT_NAMES.length) }),
  z.object({ type: z.literal('most') }),
]);

export function describeMatchRule(rule: MatchRule): string {
  switch (rule.type) {
    case 'all':
      return 'every hardware component must match';
    case 'allButOne':
      return 'all hardware components but one must match (at least two matching)';
    case 'atLeast':
      return `at least ${rule.count} hardware component${rule.count === 1 ? '' : 's'} must match`;
    case 'most':
      return 'more than half of the hardware components must match';
  }
}

type ComponentSets = Partial<Record<ComponentName, readonly string[]>>;

/**
 * Compares a bound fingerprint with the current one, component by component.
 *
 * Only components with at least one value on both sides are compared (a reading the device cannot take any more
 * is neither a match nor a change). A multi-valued component (disks, MACs) matches when the two sets share a
 * value, so adding a disk or a NIC changes nothing. Nothing compared → no match. Then, with `matched` and
 * `changed` counting compared components:
 * - `all`: no component changed;
 * - `allButOne`: at most one changed and at least two matched; when only one component can be compared, it must
 *   match (one surviving reading is weak evidence, but refusing it would lock out a device whose other readings
 *   all vanished, e.g. after an OS reinstall without admin rights);
 * - `atLeast n`: at least n matched (n < 1 counts as 1);
 * - `most`: more than half of the compared components matched.
 *
 * Works on hashed components and on normalised raw ones alike (both are sets of strings per component).
 */
export function matchFingerprint(
  bound: ComponentSets,
  current: ComponentSets,
  rule: MatchRule = DEFAULT_MATCH_RULE,
): MatchResult {
  const compared: ComponentName[] = [];
  const matched: ComponentName[] = [];
  const changed: ComponentName[] = [];
  for (const name of COMPONENT_NAMES) {
    const a = bound[name];
    const b = current[name];
    if (!a?.length || !b?.length) continue;
    compared.push(name);
    const set = new Set(a);
    (b.some((v) => set.has(v)) ? matched : changed).push(name);
  }
  return { match: compared.length > 0 && passes(rule, compared.length, matched.length), compared, matched, changed };
}

function passes(rule: MatchRule, compared: number, matched: number): boolean {
  const changed = compared - matched;
  switch (rule.type) {
    case 'all':
      return changed === 0;
    case 'allButOne':
      return compared < 2 ? changed === 0 : changed <= 1 && matched >= 2;
    case 'atLeast':
      return matched >= Math.max(1, rule.count);
    case 'most':
      return matched * 2 > compared;
    default:
      // Rules from storage or the network may be unknown to this version: refuse rather than guess.
      return false;
  }
}

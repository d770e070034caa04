import { z } from 'zod';
import { fieldWithNul, nulParameterMessage } from '../http/nul';
import { testFlag } from '../koogallery/validate';
import { LenientJsonError, parseLenientJson } from './lenientJson';

/**
 * Validation of the five Kit interfaces (spec §9, addendum A7), identical for v1 and v2 except for the
 * list fields' documented shapes, which both versions accept:
 *   - lists as arrays or as JSON strings (even with unquoted keys, see lenientJson.ts);
 *   - org unit names as `orgName`, `OrgName` or `name`; v1's `orgInfo` and v2's `orgInfoList`;
 *   - user fields at the top level or inside `extension` (the v1 example nests entryDate, employeeType, workPlace);
 *   - `flag` on allOrgSync is ignored (the example sends it, the table has none).
 * Keys (tenantId, appId, orgCode, userName) are strictly checked; descriptive text is capped at 255
 * characters — the largest documented length — so that a name a little over its documented size never fails
 * an enterprise's sync. Anything else malformed is refused with 000002 naming the field.
 */

export const MAX_USERS_PER_CALL = 500; // documented: at most 500 users per authSync call
export const MAX_ORG_UNITS = 50_000; // a 1 MB body holds fewer; the cap only bounds work

export type KitInterface = 'tenantSync' | 'applicationSync' | 'authSync' | 'singleOrgSync' | 'allOrgSync';
export const KIT_INTERFACES: KitInterface[] = [
  'tenantSync',
  'applicationSync',
  'authSync',
  'singleOrgSync',
  'allOrgSync',
];

/** 0 delete, 1 add, 2 modify; 3 cancel authorisation (authSync v2 only). */
export type Flag = 0 | 1 | 2 | 3;
export const FLAG_NAMES: Record<Flag, string> = { 0: 'delete', 1: 'add', 2: 'modify', 3: 'cancel' };

/** Strings, or numbers the sender did not quote; trimmed. */
const textish = (max: number) =>
  z
    .union([z.string(), z.number().finite()], { error: 'expected a string' })
    .transform((v) => String(v).trim())
    .pipe(z.string().max(max, `at most ${max} characters`));

const key = (max = 64) => textish(max).pipe(z.string().min(1, 'must not be empty'));

/** Absent → undefined (keep on modify); null or blank → null; else the trimmed text. */
const optText = (max = 255) =>
  z
    .union([textish(max), z.null()], { error: 'expected a string' })
    .optional()
    .transform((v) => (v === undefined ? undefined : v === null || v === '' ? null : v));

/** Empty for the seller's own credential application (the marketplace sends it blank); never absent in practice. */
const instanceId = z
  .union([z.string().max(64, 'at most 64 characters'), z.null()], { error: 'expected a string' })
  .optional()
  .transform((v) => (v ?? '').trim());

const flag = (allowed: Flag[]) =>
  z
    .union([z.number(), z.string().trim().regex(/^\d+$/, 'expected an integer')], { error: 'expected an integer' })
    .transform(Number)
    .refine((n): n is Flag => (allowed as number[]).includes(n), {
      message: `must be ${allowed.map((f) => `${f} (${FLAG_NAMES[f]})`).join(', ')}`,
    })
    .transform((n) => n as Flag);

const boolish = z
  .union([z.boolean(), z.number(), z.string()], { error: 'expected true or false' })
  .transform((v, ctx) => {
    const s = String(v).trim().toLowerCase();
    if (s === 'true' || s === '1') return true;
    if (s === 'false' || s === '0') return false;
    ctx.addIssue({ code: 'custom', message: 'expected true or false' });
    return z.NEVER;
  });

/** The marketplace's own time of a change: yyyyMMddHHmmssSSS (GMT+8). Anything else orders by arrival. */
export function normaliseSourceTs(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const s = v.trim();
  if (/^\d{17}$/.test(s)) return s;
  if (/^\d{14}$/.test(s)) return `${s}000`;
  return null;
}

const common = {
  instanceId,
  tenantId: key(),
  testFlag,
  timeStamp: z.unknown().optional(),
};

const missing = (ctx: z.RefinementCtx, path: string, why: string) =>
  ctx.addIssue({ code: 'custom', path: [path], message: why, params: { missing: true } });

const tenantSchema = z
  .object({
    ...common,
    orderId: optText(64),
    tenantCode: optText(64),
    name: optText(),
    domainName: optText(),
    flag: flag([0, 1, 2]),
  })
  .superRefine((v, ctx) => {
    if (v.flag === 1) {
      if (!v.tenantCode) missing(ctx, 'tenantCode', 'required when flag is 1 (add)');
      if (!v.name) missing(ctx, 'name', 'required when flag is 1 (add)');
    }
    if (v.flag === 2 && !v.name && !v.domainName) missing(ctx, 'name', 'flag 2 (modify) needs name or domainName');
  });

const appSchema = z
  .object({
    ...common,
    appId: key(),
    clientId: optText(64),
    // RSA-3072 OAEP ciphertext in Base64 is 512 characters; leave room for larger keys.
    clientSecret: z
      .union([z.string().max(8192, 'at most 8192 characters'), z.null()], { error: 'expected a string' })
      .optional()
      .transform((v) => (v === undefined ? undefined : v === null || v.trim() === '' ? null : v)),
    flag: flag([0, 1, 2]),
  })
  .superRefine((v, ctx) => {
    if (v.flag === 1) {
      if (!v.clientId) missing(ctx, 'clientId', 'required when flag is 1 (add)');
      if (!v.clientSecret) missing(ctx, 'clientSecret', 'required when flag is 1 (add)');
    }
    if (v.flag === 2 && !v.clientId && !v.clientSecret) {
      missing(ctx, 'clientId', 'flag 2 (modify) needs clientId or clientSecret');
    }
  });

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const userItem = z.preprocess(
  (v) => {
    if (!isRecord(v)) return v;
    const ext = isRecord(v.extension) ? v.extension : {};
    return {
      ...v,
      enable: v.enable ?? v.enabled,
      entryDate: v.entryDate ?? ext.entryDate,
      employeeType: v.employeeType ?? ext.employeeType,
      workPlace: v.workPlace ?? ext.workPlace,
    };
  },
  z.object(
    {
      userName: key(),
      name: optText(),
      orgCode: optText(64),
      role: optText(32).transform((r) => (typeof r === 'string' ? r.toLowerCase() : r)),
      enable: boolish.optional(),
      position: optText(),
      employeeCode: optText(),
      employeeType: optText(),
      mobile: optText(),
      email: optText(),
      workPlace: optText(),
      entryDate: optText(),
    },
    { error: 'expected a user object' },
  ),
);

const authSchema = z.object({
  ...common,
  appId: key(),
  userList: z
    .array(userItem, { error: 'expected a list of users (an array, or a JSON string holding one)' })
    .max(MAX_USERS_PER_CALL, `at most ${MAX_USERS_PER_CALL} users per call`),
  currentSyncTime: z.unknown().optional(),
  flag: flag([0, 1, 2, 3]),
});

const orgName = (v: Record<string, unknown>) => v.orgName ?? v.OrgName ?? v.name;

const orgItem = z.preprocess(
  (v) => (isRecord(v) ? { ...v, orgName: orgName(v) } : v),
  z
    .object(
      {
        orgCode: key(),
        orgName: key(255),
        parentCode: optText(64),
      },
      { error: 'expected an organisation unit object' },
    )
    .superRefine((v, ctx) => {
      if (v.parentCode === v.orgCode) {
        ctx.addIssue({ code: 'custom', path: ['parentCode'], message: 'a unit cannot be its own parent' });
      }
    }),
);

const singleOrgSchema = z.preprocess(
  (v) => (isRecord(v) ? { ...v, orgName: orgName(v) } : v),
  z
    .object({
      ...common,
      orgCode: key(),
      orgName: optText(),
      parentCode: optText(64),
      flag: flag([0, 1, 2]),
    })
    .superRefine((v, ctx) => {
      if (v.flag !== 0 && !v.orgName)
        missing(ctx, 'orgName', `required when flag is ${v.flag} (${FLAG_NAMES[v.flag]})`);
      if (v.parentCode && v.parentCode === v.orgCode) {
        ctx.addIssue({ code: 'custom', path: ['parentCode'], message: 'a unit cannot be its own parent' });
      }
    }),
);

const allOrgSchema = z
  .object({
    ...common,
    orgInfoList: z
      .array(orgItem, { error: 'expected a list of organisation units (an array, or a JSON string holding one)' })
      .max(MAX_ORG_UNITS, `at most ${MAX_ORG_UNITS} units`),
  })
  .superRefine((v, ctx) => {
    const seen = new Map<string, { orgName: string; parentCode: string | null | undefined }>();
    v.orgInfoList.forEach((u, i) => {
      const prev = seen.get(u.orgCode);
      if (prev && (prev.orgName !== u.orgName || (prev.parentCode ?? null) !== (u.parentCode ?? null))) {
        ctx.addIssue({
          code: 'custom',
          path: ['orgInfoList', i, 'orgCode'],
          message: `${u.orgCode} appears twice with different data`,
        });
      }
      seen.set(u.orgCode, u);
    });
  });

export type TenantSync = z.infer<typeof tenantSchema>;
export type AppSync = z.infer<typeof appSchema>;
export type AuthSync = z.infer<typeof authSchema>;
export type KitUser = AuthSync['userList'][number];
export type SingleOrgSync = z.infer<typeof singleOrgSchema>;
export type AllOrgSync = z.infer<typeof allOrgSchema>;
export type OrgUnitInput = AllOrgSync['orgInfoList'][number];

export type KitRequest =
  | { kind: 'tenantSync'; data: TenantSync; ts: string | null }
  | { kind: 'applicationSync'; data: AppSync; ts: string | null }
  | { kind: 'authSync'; data: AuthSync; ts: string | null }
  | { kind: 'singleOrgSync'; data: SingleOrgSync; ts: string | null }
  | { kind: 'allOrgSync'; data: AllOrgSync; ts: string | null };

/** `orgInfoList[2].orgName` rather than `orgInfoList.2.orgName`. */
export function fieldName(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || 'body';
}

function describe(issue: z.core.$ZodIssue): string {
  const field = fieldName(issue.path);
  const params = (issue as { params?: { missing?: boolean } }).params;
  if (params?.missing) return `Missing parameter: ${field} (${issue.message})`;
  // Parsed with reportInput, so a type issue whose input is undefined is an absent field.
  if (
    (issue.code === 'invalid_type' || issue.code === 'invalid_union') &&
    'input' in issue &&
    issue.input === undefined
  ) {
    return `Missing parameter: ${field}`;
  }
  return `Invalid parameter ${field}: ${issue.message}`;
}

/** A list that arrives as a JSON string (documented for v1 and seen in v2 examples) becomes the list. */
function decodeList(body: Record<string, unknown>, field: string): string | null {
  const v = body[field];
  if (typeof v !== 'string') return null;
  const text = v.trim();
  if (text === '') {
    body[field] = [];
    return null;
  }
  try {
    body[field] = parseLenientJson(text);
    // The router's U+0000 check saw only the outer text: a `\\u0000` in it decodes to the character here.
    const inner = fieldWithNul(body[field], undefined, '');
    return inner === undefined ? null : nulParameterMessage(inner ? `${field}.${inner}` : field);
  } catch (err) {
    const why = err instanceof LenientJsonError ? err.message : 'unreadable';
    return `Invalid parameter ${field}: a string that is not a readable JSON list (${why})`;
  }
}

const SCHEMAS = {
  tenantSync: tenantSchema,
  applicationSync: appSchema,
  authSync: authSchema,
  singleOrgSync: singleOrgSchema,
  allOrgSync: allOrgSchema,
} as const;

/** Validates a parsed body for one interface: the request to apply, or the 000002 message naming the field. */
export function parseKitRequest(kind: KitInterface, input: Record<string, unknown>): KitRequest | { error: string } {
  const body: Record<string, unknown> = { ...input };
  if (kind === 'allOrgSync' && body.orgInfoList === undefined && body.orgInfo !== undefined) {
    body.orgInfoList = body.orgInfo; // v1 name
  }
  const listField = kind === 'authSync' ? 'userList' : kind === 'allOrgSync' ? 'orgInfoList' : null;
  if (listField) {
    const problem = decodeList(body, listField);
    if (problem) return { error: problem };
  }
  const r = SCHEMAS[kind].safeParse(body, { reportInput: true });
  if (!r.success) return { error: describe(r.error.issues[0]!) };
  const ts =
    kind === 'authSync'
      ? (normaliseSourceTs(body.currentSyncTime) ?? normaliseSourceTs(body.timeStamp))
      : normaliseSourceTs(body.timeStamp);
  return { kind, data: r.data, ts } as KitRequest;
}

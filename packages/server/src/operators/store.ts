import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { LicensorError } from '@licensor/shared';
import { z } from 'zod';
import type { Scope } from '../admin/auth';
import type { Storage } from '../db/storage';
import { audit } from '../licensing';

/**
 * Console operator accounts. A role maps onto an admin scope, so the console's people pass the very same
 * checks as bearer tokens: viewer → read (GET only), operator → write (every action but tokens), admin →
 * admin (tokens and operators too).
 */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];
export const SCOPE_OF_ROLE: Record<Role, Scope> = { viewer: 'read', operator: 'write', admin: 'admin' };

export const operatorNameSchema = z
  .string()
  .trim()
  .min(2, 'must be at least 2 characters')
  .max(64, 'at most 64 characters')
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9._@-]*$/, 'letters, digits and . _ @ - only (it appears in the audit log)');
export const passwordSchema = z.string().min(12, 'must be at least 12 characters').max(256, 'at most 256 characters');

const scrypt = promisify(scryptCallback) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

export interface ScryptCost {
  N: number;
  r: number;
  p: number;
}

/** scrypt cost: N=2^15, r=8, p=1 (≈32 MiB, tens of ms), the OWASP recommendation for scrypt. */
export const PASSWORD_HASH_COST: Readonly<ScryptCost> = Object.freeze({ N: 2 ** 15, r: 8, p: 1 });
const KEY_LENGTH = 32;

/**
 * `cost` is for test fixtures only (testkit seeds accounts with a cheap one): no configuration reaches it, and
 * every production caller (console, CLI, first-operator setup) uses PASSWORD_HASH_COST. The cost is stored in the
 * hash, so verifying always uses the cost the hash was made with.
 */
export async function hashPassword(password: string, cost: Readonly<ScryptCost> = PASSWORD_HASH_COST): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, KEY_LENGTH, { ...cost, maxmem: 64 * 1024 * 1024 });
  return ['scrypt', cost.N, cost.r, cost.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: 64 * 1024 * 1024,
  });
  return timingSafeEqual(actual, expected);
}

/** Hash of a random password: unknown names are checked against it, so a wrong name costs as long as a wrong password. */
let decoyHash: Promise<string> | undefined;
export const decoy = () => {
  decoyHash ??= hashPassword(randomBytes(16).toString('hex'));
  return decoyHash;
};

export interface OperatorRow {
  name: string;
  role: Role;
  password_hash: string;
  created_at: string;
  password_changed_at: string;
  disabled_at: string | null;
  failed_logins: number;
  locked_until: string | null;
  last_login_at: string | null;
}

export interface OperatorView {
  name: string;
  role: Role;
  createdAt: string;
  passwordChangedAt: string;
  disabledAt: string | null;
  lockedUntil: string | null;
  lastLoginAt: string | null;
}

export const operatorView = (r: OperatorRow): OperatorView => ({
  name: r.name,
  role: r.role,
  createdAt: r.created_at,
  passwordChangedAt: r.password_changed_at,
  disabledAt: r.disabled_at,
  lockedUntil: r.locked_until,
  lastLoginAt: r.last_login_at,
});

export const findOperator = (db: Storage, name: string): Promise<OperatorRow | undefined> =>
  db.first<OperatorRow>('SELECT * FROM operators WHERE name = ?', [name]);

export const listOperators = async (db: Storage): Promise<OperatorView[]> =>
  (await db.all<OperatorRow>('SELECT * FROM operators ORDER BY name')).map(operatorView);

export const operatorCount = async (db: Storage): Promise<number> =>
  (await db.first<{ n: number }>('SELECT COUNT(*) AS n FROM operators'))?.n ?? 0;

/** A password for `operators add` and `reset-password` when none is given: 24 random characters, shown once. */
export const generatePassword = (): string => randomBytes(18).toString('base64url');

export async function addOperator(
  db: Storage,
  input: { name: string; role: Role; password: string },
  actor: string,
  options: { onlyIfNone?: boolean; hashCost?: Readonly<ScryptCost> } = {},
): Promise<OperatorView> {
  const name = operatorNameSchema.parse(input.name);
  const refusal = async (q: Storage) => {
    if (options.onlyIfNone && (await operatorCount(q)) > 0) {
      return new LicensorError('CONFLICT', 'An operator exists already: ask an admin operator to add you');
    }
    if (await findOperator(q, name)) return new LicensorError('CONFLICT', `Operator ${name} exists already`);
    return undefined;
  };
  // Checked before the hash too: scrypt costs ≈ 32 MiB and tens of ms, wasted on a name that is taken. The hash is
  // made outside the transaction (it would hold the write lock that long), so the check runs again inside it.
  const early = await refusal(db);
  if (early) throw early;
  const passwordHash = await hashPassword(input.password, options.hashCost);
  const now = new Date().toISOString();
  return db.transaction(async (tx) => {
    const refused = await refusal(tx);
    if (refused) throw refused;
    await tx.run(
      'INSERT INTO operators (name, role, password_hash, created_at, password_changed_at) VALUES (?, ?, ?, ?, ?)',
      [name, input.role, passwordHash, now, now],
    );
    await audit(tx, { actor, action: 'operator.added', detail: { name, role: input.role } });
    return operatorView((await findOperator(tx, name))!);
  });
}

async function requireOperator(db: Storage, name: string): Promise<OperatorRow> {
  const row = await findOperator(db, name);
  if (!row)
    throw new LicensorError('NOT_FOUND', `No operator named ${name}; list them with \`licensor operators list\``);
  return row;
}

const enabledAdmins = async (db: Storage): Promise<number> =>
  (await db.first<{ n: number }>("SELECT COUNT(*) AS n FROM operators WHERE role = 'admin' AND disabled_at IS NULL"))
    ?.n ?? 0;

/** The refusal to disable or demote the last enabled admin: nobody could manage operators any more. */
const lastAdmin = (name: string, change: string) =>
  new LicensorError(
    'CONFLICT',
    `${name} is the last enabled admin: make another operator admin first (\`licensor operators set-role <name> admin\`), then ${change}`,
    { name },
  );

/** Disables the account and ends its sessions at once; the last enabled admin stays enabled. */
export async function disableOperator(
  db: Storage,
  name: string,
  actor: string,
): Promise<{ operator: OperatorView; changed: boolean }> {
  return await db.transaction(async (tx) => {
    const row = await requireOperator(tx, name);
    if (row.role === 'admin' && !row.disabled_at && (await enabledAdmins(tx)) <= 1)
      throw lastAdmin(name, 'disable this one');
    const changed =
      (
        await tx.run('UPDATE operators SET disabled_at = ? WHERE name = ? AND disabled_at IS NULL', [
          new Date().toISOString(),
          name,
        ])
      ).changes === 1;
    await tx.run('DELETE FROM operator_sessions WHERE operator = ?', [name]);
    if (changed) await audit(tx, { actor, action: 'operator.disabled', detail: { name } });
    return { operator: operatorView(await requireOperator(tx, name)), changed };
  });
}

/**
 * Changes an operator's role and ends their sessions, so the new role applies from their next sign-in (a
 * demoted admin cannot keep acting). The last enabled admin keeps the role: someone must be able to manage
 * the accounts.
 */
export async function setOperatorRole(
  db: Storage,
  name: string,
  role: Role,
  actor: string,
): Promise<{ operator: OperatorView; changed: boolean }> {
  return await db.transaction(async (tx) => {
    const row = await requireOperator(tx, name);
    if (row.role === role) return { operator: operatorView(row), changed: false };
    if (row.role === 'admin' && !row.disabled_at && (await enabledAdmins(tx)) <= 1)
      throw lastAdmin(name, 'change this role');
    await tx.run('UPDATE operators SET role = ? WHERE name = ?', [role, name]);
    await tx.run('DELETE FROM operator_sessions WHERE operator = ?', [name]);
    await audit(tx, { actor, action: 'operator.role_changed', detail: { name, from: row.role, to: role } });
    return { operator: operatorView(await requireOperator(tx, name)), changed: true };
  });
}

/** Sets a new password, re-enables the account, clears the lock-out and ends every session of the account. */
export async function resetPassword(db: Storage, name: string, password: string, actor: string): Promise<OperatorView> {
  await requireOperator(db, name);
  const passwordHash = await hashPassword(password);
  return db.transaction(async (tx) => {
    await tx.run(
      `UPDATE operators SET password_hash = ?, password_changed_at = ?, disabled_at = NULL, failed_logins = 0,
         locked_until = NULL WHERE name = ?`,
      [passwordHash, new Date().toISOString(), name],
    );
    await tx.run('DELETE FROM operator_sessions WHERE operator = ?', [name]);
    await audit(tx, { actor, action: 'operator.password_reset', detail: { name } });
    return operatorView(await requireOperator(tx, name));
  });
}

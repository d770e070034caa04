import { existsSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { LicensorError } from '@licensor/shared';
import { type Command, Option } from 'commander';
import { z } from 'zod';
import { createToken, listTokens, revokeToken } from '../../admin/actions';
import { SCOPES } from '../../admin/auth';
import { currentVersion, MIGRATIONS, migrate } from '../../db/migrations';
import { migrationTarget, openSqliteDatabase } from '../../db/sqlite';
import { parseInput } from '../../http/errors';
import { fields, table } from '../output';
import type { Runner, Session } from '../session';
import { dbMigratePostgres, registerDatabaseCommands } from './database';

async function dbMigrate(s: Session) {
  const target = s.config().database;
  if (target.kind === 'postgres') return dbMigratePostgres(s, target.url);
  // Opened without migrating, to report the versions before and after.
  const sqlite = openSqliteDatabase(s.dbPath, { migrate: false });
  try {
    const db = migrationTarget(sqlite.raw);
    const from = currentVersion(db);
    const applied = migrate(db);
    const latest = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
    s.print({ database: s.dbPath, from, to: currentVersion(db), applied }, () =>
      applied.length
        ? `Migrated ${s.dbPath} from version ${from} to ${currentVersion(db)} (applied ${applied.join(', ')}).`
        : `${s.dbPath} is up to date (version ${from}${from > latest ? `, newer than this build's ${latest}` : ''}).`,
    );
  } finally {
    await sqlite.close();
  }
}

/** Progress on stderr: a redrawn bar for a person at a terminal, a line per 10% for logs and pipes. */
function progressReporter(s: Session) {
  const tty = Boolean(s.io.stderr.isTTY);
  let lastStep = -1;
  return {
    update(done: number, total: number) {
      const pct = total > 0 ? Math.min(100, Math.floor((done * 100) / total)) : 100;
      if (tty) {
        const filled = Math.round(pct / 5);
        s.io.stderr.write(`\rBackup [${'#'.repeat(filled)}${'.'.repeat(20 - filled)}] ${String(pct).padStart(3)}%`);
      } else if (Math.floor(pct / 10) > lastStep) {
        lastStep = Math.floor(pct / 10);
        s.io.stderr.write(`backup: ${pct}%\n`);
      }
    },
    finish() {
      if (tty) s.io.stderr.write('\n');
      else if (lastStep < 10) s.io.stderr.write('backup: 100%\n');
    },
  };
}

async function dbBackup(s: Session, file: string, opts: { force?: boolean }) {
  if (s.onPostgres) {
    // PostgreSQL has its own consistent online backup; a second, Licensor-specific format would only be worse.
    throw new LicensorError(
      'CONFIG_INVALID',
      'db backup copies the SQLite file; on PostgreSQL back up with pg_dump (pg_dump -Fc -f licensor.dump "$LICENSOR_DATABASE_URL") and rehearse restores as docs/deploy-postgresql.md ("Backups") describes',
    );
  }
  const db = await s.db();
  if (db.dialect !== 'sqlite') throw new LicensorError('INTERNAL', 'expected the SQLite database');
  const dest = resolve(file);
  if (dest === resolve(s.dbPath)) {
    throw new LicensorError('INVALID_INPUT', 'The backup file must not be the live database: choose another path');
  }
  if (existsSync(dest)) {
    if (!opts.force)
      throw new LicensorError('INVALID_INPUT', `${dest} already exists: choose another file or pass --force`);
    // A stale WAL beside an overwritten file would be replayed into the copy: remove all three.
    for (const f of [dest, `${dest}-wal`, `${dest}-shm`]) rmSync(f, { force: true });
  }
  const started = performance.now();
  const progress = progressReporter(s);
  await db.backup(dest, (done, total) => progress.update(done, total));
  progress.finish();
  const ms = Math.round(performance.now() - started);
  // A backup is only a backup once it opens and SQLite finds nothing wrong in it.
  const copy = openSqliteDatabase(dest, { migrate: false });
  let integrity: string[];
  let version: number;
  try {
    integrity = await copy.integrityCheck();
    version = currentVersion(migrationTarget(copy.raw));
  } finally {
    await copy.close();
  }
  const ok = integrity.length === 1 && integrity[0] === 'ok';
  const data = { file: dest, bytes: statSync(dest).size, schemaVersion: version, integrity: ok ? 'ok' : integrity, ms };
  if (!ok) {
    throw new LicensorError(
      'INTERNAL',
      `Backup ${dest} failed its integrity check (${integrity.slice(0, 3).join('; ')}); keep the previous backup and retry`,
    );
  }
  s.print(data, () =>
    fields([
      ['Backup written', dest],
      ['Size', `${(data.bytes / 1024).toFixed(1)} KiB`],
      ['Schema version', version],
      ['Integrity check', 'ok'],
      ['Took', `${ms} ms`],
    ]),
  );
}

const tokenInput = z.object({
  name: z.string().trim().min(1, 'must not be empty').max(100, 'at most 100 characters'),
  scope: z.enum(SCOPES),
});

async function tokensCreate(s: Session, opts: { name: string; scope: string }) {
  const input = parseInput(tokenInput, opts, 'token');
  const created = await createToken(await s.db(), input.name, input.scope, s.actor);
  s.print(created, () =>
    [
      fields([
        ['Token id', created.id],
        ['Name', created.name],
        ['Scope', created.scope],
        ['Token', created.token],
      ]),
      'Store the token now: it is shown only once (send it as Authorization: Bearer <token>).',
    ].join('\n'),
  );
}

async function tokensList(s: Session) {
  const items = await listTokens(await s.db());
  s.print({ items }, () =>
    items.length === 0
      ? 'No admin tokens yet. Create one with `licensor tokens create --name <name> --scope read|write|admin`.'
      : table(items, [
          { header: 'ID', value: (t) => t.id },
          { header: 'NAME', value: (t) => t.name },
          { header: 'SCOPE', value: (t) => t.scope },
          { header: 'CREATED', value: (t) => t.createdAt },
          { header: 'LAST USED', value: (t) => t.lastUsedAt },
          { header: 'REVOKED', value: (t) => t.revokedAt },
        ]),
  );
}

async function tokensRevoke(s: Session, id: string) {
  const r = await revokeToken(await s.db(), id, s.actor);
  s.print(r, () => (r.changed ? `Revoked token ${id} (${r.token.name}).` : `Token ${id} was already revoked.`));
}

export function registerDataCommands(program: Command, run: Runner): void {
  const db = program.command('db').description('the database');
  db.command('migrate').description('create the database or bring its schema up to date').action(run(dbMigrate));
  db.command('backup')
    .description('online backup (the server may keep running); the copy is integrity-checked')
    .argument('<file>', 'where to write the copy')
    .option('--force', 'overwrite the file if it exists')
    .action(run((s, file: string, opts: { force?: boolean }) => dbBackup(s, file, opts)));
  registerDatabaseCommands(db, run);

  const tokens = program.command('tokens').description('admin API bearer tokens');
  tokens
    .command('create')
    .description('create a token and print it once')
    .requiredOption('--name <name>', 'who or what uses it')
    .addOption(
      new Option('--scope <scope>', 'read (GET only), write (all but tokens) or admin (tokens too)')
        .choices([...SCOPES])
        .makeOptionMandatory(),
    )
    .action(run((s, opts: { name: string; scope: string }) => tokensCreate(s, opts)));
  tokens.command('list').description('tokens (never their secrets)').action(run(tokensList));
  tokens
    .command('revoke')
    .description('revoke a token')
    .argument('<id>', 'token id (tok_…)')
    .action(run((s, id: string) => tokensRevoke(s, id)));
}

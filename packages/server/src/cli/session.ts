import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { LicensorError } from '@licensor/shared';
import { licenseModel } from '../catalog/store';
import { type Config, databasePath, loadConfig } from '../config';
import type { AppContext } from '../context';
import { openSqliteDatabase, type SqliteDatabase } from '../db/sqlite';
import { KeyStore } from '../keys/keystore';
import { isKitUserAuthorized } from '../kit/queries';
import { kooGalleryCodes } from '../koogallery/codeLearning';
import { MessageLog } from '../koogallery/messageLog';
import { OpenApiClient } from '../koogallery/openApi';
import { createLogger, type Logger } from '../logger';
import { Outbox } from '../outbox/outbox';
import { emitActivationChange, emitEntitlementChange } from '../webhooks/entitlementEvents';
import type { CliIo } from './output';

/** Wraps a command body: one Session per invocation, always closed. */
export type Runner = <A extends unknown[]>(
  fn: (s: Session, ...args: A) => unknown | Promise<unknown>,
) => (...args: unknown[]) => Promise<void>;

export interface GlobalOptions {
  dataDir?: string;
  json?: boolean;
}

/**
 * What one CLI invocation works with: the configuration (environment + LICENSOR_CONFIG, with --data-dir
 * on top), the database opened directly (no server needed), the key store. Everything is opened lazily and
 * closed by `close()`, so `licensor tokens list` never touches keys and `licensor keys show` never the database.
 */
export class Session {
  private _config: Config | undefined;
  private _db: SqliteDatabase | undefined;
  private _keys: KeyStore | undefined;
  private _ctx: AppContext | undefined;
  readonly json: boolean;

  constructor(
    readonly io: CliIo,
    readonly globals: GlobalOptions,
  ) {
    this.json = Boolean(globals.json);
  }

  /** The environment with --data-dir applied (it wins over LICENSOR_DATA_DIR and the config file). */
  get serverEnv(): NodeJS.ProcessEnv {
    const env = { ...this.io.env };
    if (this.globals.dataDir) env.LICENSOR_DATA_DIR = this.globals.dataDir;
    return env;
  }

  /** Configuration for the operator commands (the server's own is `loadConfig(serverEnv)`). */
  config(): Config {
    const env = this.serverEnv;
    // The CLI's own output is the report; the server's info-level JSON logs would only get in the way.
    if (!env.LICENSOR_LOG_LEVEL) env.LICENSOR_LOG_LEVEL = 'warn';
    this._config ??= loadConfig(env);
    return this._config;
  }

  get dataDir(): string {
    return this.config().dataDir;
  }

  get keysDir(): string {
    return join(this.dataDir, 'keys');
  }

  get dbPath(): string {
    return databasePath(this.config());
  }

  /** Logs go to stderr so that stdout stays clean for --json consumers. */
  logger(): Logger {
    return createLogger(this.config().logLevel, { write: (s: string) => this.io.stderr.write(s) });
  }

  /** The database; unless `create`, a missing file is a configuration error (a mistyped --data-dir). */
  db(opts: { create?: boolean; migrate?: boolean } = {}): SqliteDatabase {
    if (this._db) return this._db;
    if (this.config().database.kind === 'postgres') {
      // The domain commands still run on SQLite; writing a token into a SQLite file nobody serves would half-work.
      throw new LicensorError(
        'CONFIG_INVALID',
        'This command works on SQLite only in this version; with LICENSOR_DATABASE_URL=postgres://… only `db status`, `db migrate` and `db copy` are available (back up PostgreSQL with pg_dump). Unset LICENSOR_DATABASE_URL to use the SQLite database',
      );
    }
    const path = this.dbPath;
    if (!opts.create && path !== ':memory:' && !existsSync(path)) {
      throw new LicensorError(
        'CONFIG_INVALID',
        `No database at ${path}: check --data-dir or LICENSOR_DATA_DIR, or create it with \`licensor db migrate\``,
      );
    }
    this._db = openSqliteDatabase(path, { migrate: opts.migrate ?? true });
    return this._db;
  }

  get hasKeys(): boolean {
    return existsSync(join(this.keysDir, 'root.crt.pem'));
  }

  /** The key store; it must exist (create it with `keys init`, which never replaces a root clients pin). */
  keys(): KeyStore {
    if (this._keys) return this._keys;
    if (!this.hasKeys) {
      throw new LicensorError(
        'CONFIG_INVALID',
        `No keys in ${this.keysDir}: create them with \`licensor keys init\` (or check --data-dir)`,
      );
    }
    const config = this.config();
    this._keys = KeyStore.open(this.keysDir, config.keyPassphrase, { rootPassphrase: config.rootPassphrase }).store;
    return this._keys;
  }

  /** The services the marketplace and licensing code expect, without an HTTP server or a running worker. */
  ctx(): AppContext {
    if (this._ctx) return this._ctx;
    const db = this.db();
    const config = this.config();
    const log = this.logger();
    const messages = new MessageLog(db);
    const keys = (): KeyStore => this.keys();
    const openApi = new OpenApiClient(config.koo, messages);
    const now = () => new Date();
    const entitlementChanged: AppContext['entitlementChanged'] = (db, change) => emitEntitlementChange(db, change);
    const ctx: AppContext = {
      db,
      config,
      log,
      outbox: new Outbox(db, log, { leaseMs: config.outboxLeaseMs }),
      openApi,
      messages,
      now,
      // Opened on first use: most commands never sign anything.
      get keys() {
        return keys();
      },
      isNamedUserAuthorized: (db, entitlementId, user) => isKitUserAuthorized(db, entitlementId, user),
      marketplaceCodes: kooGalleryCodes({ db, now, openApi, log, entitlementChanged }),
      // …and by the catalogue (edition and features of License files) and the webhooks (license events).
      licenseModel: (db, ent) => licenseModel(db, ent),
      entitlementChanged,
      activationChanged: (db, change) => emitActivationChange(db, change),
    };
    this._ctx = ctx;
    return ctx;
  }

  /** Who the audit log names for this invocation. */
  get actor(): string {
    let user = this.io.env.USER ?? this.io.env.USERNAME;
    if (!user) {
      try {
        user = userInfo().username;
      } catch {
        user = 'unknown';
      }
    }
    return `cli:${user}`;
  }

  out(text: string): void {
    this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** Prints `data` as JSON with --json, else the human rendering. */
  print(data: unknown, human: () => string): void {
    this.out(this.json ? JSON.stringify(data, null, 2) : human());
  }

  note(text: string): void {
    if (!this.json) this.io.stderr.write(`${text}\n`);
  }

  async close(): Promise<void> {
    await this._ctx?.messages.flush();
    await this._db?.close();
    this._db = undefined;
  }
}

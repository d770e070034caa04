import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { LicensorError } from '@licensor/shared';
import { licenseModel } from '../catalog/store';
import { type Config, databasePath, loadConfig } from '../config';
import type { AppContext } from '../context';
import { redactDatabaseUrl } from '../db/backend';
import { type AnyDatabase, openDatabaseFromUrl } from '../db/open';
import { postgresSettings } from '../db/postgres/settings';
import { DatabaseKeySource } from '../keys/databaseKeys';
import { DEVELOPMENT_KEY_PASSPHRASE, KeyStore } from '../keys/keystore';
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
  private _db: Promise<AnyDatabase> | undefined;
  private _keys: KeyStore | undefined;
  private _keySource: Promise<DatabaseKeySource> | undefined;
  private _ctx: Promise<AppContext> | undefined;
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

  get onPostgres(): boolean {
    return this.config().database.kind === 'postgres';
  }

  /**
   * The database LICENSOR_DATABASE_URL names (SQLite file or PostgreSQL), opened as the server opens it
   * (db/open.ts) and brought current. A SQLite file that does not exist is a configuration error (a mistyped
   * --data-dir would otherwise create an empty database and report nothing found; `db migrate` creates it).
   */
  db(): Promise<AnyDatabase> {
    this._db ??= this.openDb();
    return this._db;
  }

  private async openDb(): Promise<AnyDatabase> {
    const target = this.config().database;
    if (target.kind === 'sqlite') {
      const path = this.dbPath;
      if (path !== ':memory:' && !existsSync(path)) {
        throw new LicensorError(
          'CONFIG_INVALID',
          `No database at ${path}: check --data-dir or LICENSOR_DATA_DIR (or LICENSOR_DATABASE_URL), or create it with \`licensor db migrate\``,
        );
      }
    }
    try {
      return await openDatabaseFromUrl(target, {
        dataDir: this.dataDir,
        postgres: { settings: postgresSettings(this.serverEnv) },
      });
    } catch (err) {
      if (target.kind === 'postgres' && err instanceof LicensorError && err.code === 'STORAGE_UNAVAILABLE') {
        throw new LicensorError(
          'STORAGE_UNAVAILABLE',
          `${err.message}. Check that PostgreSQL runs and that LICENSOR_DATABASE_URL (${redactDatabaseUrl(target.url)}) names an existing database this user may use; \`licensor db status\` checks the connection`,
          err.detail,
          { cause: err },
        );
      }
      throw err;
    }
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

  /**
   * The key store the server would sign with: on PostgreSQL its signing keys and revocation list are the
   * database's (keys/databaseKeys.ts, imported from the key files on a database that has none, as a server's
   * first start does), elsewhere the key files.
   */
  async signingKeys(): Promise<KeyStore> {
    const store = this.keys();
    const db = await this.db();
    if (db.dialect !== 'postgres') return store;
    this._keySource ??= DatabaseKeySource.open(db.pg, store, {
      passphrase: this.config().keyPassphrase ?? DEVELOPMENT_KEY_PASSPHRASE,
      log: this.logger(),
    });
    store.useSource(await this._keySource);
    return store;
  }

  /** The services the marketplace and licensing code expect, without an HTTP server or a running worker. */
  ctx(): Promise<AppContext> {
    this._ctx ??= this.buildCtx();
    return this._ctx;
  }

  private async buildCtx(): Promise<AppContext> {
    const db = await this.db();
    const config = this.config();
    const log = this.logger();
    const messages = new MessageLog(db);
    // Signing happens synchronously inside the services, so on PostgreSQL the keys are read from the database
    // before they run; the key files are opened on first use (most commands never sign anything).
    // A key store that cannot open (no keys, a wrong passphrase) fails only the commands that sign.
    let signing: KeyStore | undefined;
    let signingError: unknown;
    if (db.dialect === 'postgres' && this.hasKeys) {
      try {
        signing = await this.signingKeys();
      } catch (err) {
        signingError = err;
      }
    }
    const keys = (): KeyStore => {
      if (signingError) throw signingError;
      return signing ?? this.keys();
    };
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
    const settled = async <T>(p: Promise<T> | undefined): Promise<T | undefined> => p?.catch(() => undefined);
    await (await settled(this._ctx))?.messages.flush();
    await (await settled(this._keySource))?.close();
    await (await settled(this._db))?.close();
    this._db = undefined;
    this._ctx = undefined;
    this._keySource = undefined;
  }
}

import { LicensorError } from '@licensor/shared';
import type { RequestHandler } from 'express';
import type { PgQueryable } from '../db/postgres/facade';
import { pgSchemaStatus, type SchemaStatus, sqliteSchemaStatus } from '../db/schemaStatus';
import type { Storage } from '../db/storage';
import type { Logger } from '../logger';

/**
 * `/readyz`: may a load balancer send traffic here? Unlike `/healthz` (the process answers), it asks the database:
 * reachable, and its schema exactly what this build expects (no pending migration, none from a newer build).
 * The check resolves the schema status or throws when the database cannot be reached.
 */
export type ReadinessCheck = () => Promise<SchemaStatus>;

export const sqliteReadiness =
  (db: Storage): ReadinessCheck =>
  async () =>
    sqliteSchemaStatus(db);

export const postgresReadiness =
  (db: PgQueryable): ReadinessCheck =>
  () =>
    pgSchemaStatus(db);

/** A check that has not answered by then counts as an unreachable database (a load balancer must not wait). */
export const READINESS_TIMEOUT_MS = 2000;

export function readyzHandler(check: ReadinessCheck, log: Logger, timeoutMs = READINESS_TIMEOUT_MS): RequestHandler {
  return async (_req, res) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      const status = await Promise.race([
        check(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new LicensorError('STORAGE_UNAVAILABLE', `The database did not answer within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
      const body = { backend: status.backend, schemaVersion: status.version, expectedVersion: status.latest };
      if (status.newerThanBuild) {
        res.status(503).json({
          status: 'not_ready',
          reason: 'SCHEMA_NEWER',
          message: `The database schema (${status.version}) is newer than this build's (${status.latest}): upgrade this instance`,
          ...body,
        });
      } else if (status.pending.length > 0) {
        res.status(503).json({
          status: 'not_ready',
          reason: 'MIGRATIONS_PENDING',
          message: `${status.pending.length} migration(s) pending: run \`licensor db migrate\``,
          pending: status.pending.map((m) => m.version),
          ...body,
        });
      } else {
        res.json({ status: 'ready', ...body });
      }
    } catch (err) {
      log.warn({ err }, 'readiness check failed');
      res.status(503).json({
        status: 'not_ready',
        reason: 'STORAGE_UNAVAILABLE',
        message: 'The database cannot be reached',
      });
    } finally {
      clearTimeout(timer);
    }
  };
}

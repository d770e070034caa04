/** One row of the outbox table: its own module so the SQLite outbox and the PostgreSQL leases can share it
 * without importing each other. */
export interface OutboxItem {
  id: number;
  kind: string;
  dedupe_key: string | null;
  payload: string;
  status: 'pending' | 'running' | 'done' | 'failed';
  attempts: number;
  next_attempt_at: number;
  lease_until: number | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

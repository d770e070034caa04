import type { Migration } from '../types';

/** The daily job plans a day by scanning code_usage for that day: index it (the key starts with code). */
export const m004_code_usage_day: Migration = {
  version: 4,
  name: 'code_usage_day',
  sql: 'CREATE INDEX IF NOT EXISTS code_usage_day ON code_usage(day, code);',
};

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { SQLITE_ONLY_MODULES } from './postgres/portability';

/**
 * The static half of the SQL portability check (the dynamic half PREPAREs every statement the tests ran on
 * PostgreSQL: postgres/portability.ts): every SQL string in the server's sources is searched for constructs only
 * SQLite understands, each with the portable spelling that replaces it. It sees code the tests never reach, and
 * says what to write instead.
 */

interface Rule {
  name: string;
  pattern: RegExp;
  instead: string;
  /** A statement the rule must catch, and its portable rewrite it must let pass. */
  example: [sqliteOnly: string, portable: string];
}

const RULES: Rule[] = [
  {
    name: 'INSERT OR IGNORE / OR REPLACE / REPLACE INTO',
    pattern: /\bINSERT\s+OR\s+\w+|\bREPLACE\s+INTO\b/i,
    instead: 'INSERT … ON CONFLICT DO NOTHING, or ON CONFLICT (key) DO UPDATE SET … = excluded.…',
    example: [
      'INSERT OR IGNORE INTO seen_nonces (nonce, expires_at) VALUES (?, ?)',
      'INSERT INTO seen_nonces (nonce, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING',
    ],
  },
  {
    name: 'rowid',
    pattern: /\b(_?rowid_?|oid)\b/i,
    instead: 'an explicit column (the lists use seq, migration 020)',
    example: ['SELECT * FROM entitlements ORDER BY rowid DESC', 'SELECT * FROM entitlements ORDER BY seq DESC'],
  },
  {
    name: "SQLite's date and time functions",
    pattern: /\b(datetime|julianday|strftime|unixepoch)\s*\(|\b(date|time)\s*\(\s*'now'/i,
    instead: 'a time computed in JavaScript and passed as a parameter (times are stored as ISO text)',
    example: ["DELETE FROM t WHERE at < datetime('now')", 'DELETE FROM t WHERE at < ?'],
  },
  {
    name: 'IFNULL / IIF',
    pattern: /\b(IFNULL|IIF)\s*\(/i,
    instead: 'COALESCE(a, b) / CASE WHEN … THEN … ELSE … END',
    example: ['SELECT IFNULL(label, hostname) FROM activations', 'SELECT COALESCE(label, hostname) FROM activations'],
  },
  {
    name: 'scalar MAX(a, b) / MIN(a, b)',
    pattern: /\b(MAX|MIN)\s*\((?:[^(),]|\((?:[^()]|\([^()]*\))*\))*,/i,
    instead: 'CASE WHEN a >= b THEN a ELSE b END (PostgreSQL spells it GREATEST/LEAST, which SQLite lacks)',
    example: [
      'SELECT MAX(COALESCE(n.test, 0), e.test) FROM t',
      'SELECT CASE WHEN n.test = 1 OR e.test = 1 THEN 1 ELSE 0 END, MAX(COALESCE(n.test, 0)) FROM t',
    ],
  },
  {
    name: 'JSON functions',
    pattern:
      /\bjson_(extract|set|insert|replace|remove|patch|group_array|group_object|type|valid|quote)\s*\(|->>?\s*'\$/i,
    instead: 'read the JSON text and pick the field in JavaScript (or a column of its own)',
    example: [
      "SELECT MAX(json_extract(detail, '$.signedAt')) FROM entitlement_changes",
      'SELECT detail FROM entitlement_changes',
    ],
  },
  {
    name: 'string functions PostgreSQL lacks',
    pattern:
      /\b(group_concat|instr|printf|char|unicode|randomblob|zeroblob|hex|total|likelihood|likely|unlikely)\s*\(/i,
    instead: 'string_agg has no SQLite twin: aggregate in JavaScript; strpos/position → LIKE or JavaScript',
    example: ['SELECT group_concat(id) FROM t', 'SELECT id FROM t'],
  },
  {
    name: 'GLOB / REGEXP / COLLATE NOCASE',
    pattern: /\b(GLOB|REGEXP|MATCH)\b|\bCOLLATE\s+NOCASE\b/i,
    instead: 'LIKE (case-sensitive on PostgreSQL: compare lower(x) where case must not matter)',
    example: ["SELECT * FROM t WHERE code GLOB 'LSR-*'", "SELECT * FROM t WHERE code LIKE 'LSR-%'"],
  },
  {
    name: 'index hints',
    pattern: /\bNOT\s+INDEXED\b|\bINDEXED\s+BY\b/i,
    instead: 'a query (or GROUP BY order) the planner cannot serve from the unwanted index, checked by a plan test',
    example: ['SELECT COUNT(*) FROM entitlements NOT INDEXED', 'SELECT COUNT(*) FROM entitlements'],
  },
  {
    name: 'LIMIT -1 (no limit)',
    pattern: /\bLIMIT\s+-\s*1\b/i,
    instead: 'leave LIMIT out (or LIMIT ALL on PostgreSQL only)',
    example: ['SELECT * FROM t LIMIT -1 OFFSET ?', 'SELECT * FROM t OFFSET ?'],
  },
  {
    name: 'TRUE / FALSE against a flag',
    pattern: /(=|<>|!=|\bIS(\s+NOT)?)\s*(TRUE|FALSE)\b/i,
    instead: 'flags are integers on both backends: compare with 1 or 0',
    example: ['SELECT * FROM entitlements WHERE test = TRUE', 'SELECT * FROM entitlements WHERE test = 1'],
  },
  {
    name: '== comparison',
    pattern: /[^=!<>]==[^=]/,
    instead: '=',
    example: ['SELECT * FROM t WHERE a == ?', 'SELECT * FROM t WHERE a = ?'],
  },
  {
    name: 'numbered or $-named parameters',
    pattern: /\?\d|\$[A-Za-z_]/,
    instead: '? (numbered for PostgreSQL by postgres/sql.ts)',
    example: ['SELECT * FROM t WHERE a = ?1', 'SELECT * FROM t WHERE a = ?'],
  },
  {
    name: "SQLite's catalogue and pragmas",
    pattern: /\bsqlite_(master|schema|sequence|temp_master)\b|\bpragma_\w+\s*\(|\bPRAGMA\b/i,
    instead: 'keep SQLite-only work in a module listed in SQLITE_ONLY_MODULES (postgres/portability.ts), with its twin',
    example: ["SELECT name FROM sqlite_master WHERE type = 'table'", 'SELECT name FROM schema_migrations'],
  },
];

/** Violations in one SQL string: rule names, with what to write instead. */
function sqliteOnlyConstructs(sql: string): Rule[] {
  return RULES.filter((r) => r.pattern.test(sql));
}

const SERVER_SRC = join(import.meta.dirname, '..');
const REPO = join(SERVER_SRC, '..', '..', '..');

/** Files whose SQL is SQLite's by design or has its own PostgreSQL twin. */
const EXEMPT = [...Object.keys(SQLITE_ONLY_MODULES), 'packages/server/src/db/sqlRecorder.ts'];
const EXEMPT_DIRS = ['packages/server/src/db/migrations/', 'packages/server/src/db/postgres/'];

/** A string that reads as SQL (a statement or a WHERE fragment), not a message or a key. */
const LOOKS_LIKE_SQL =
  /\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|VALUES|WHERE|ORDER BY|GROUP BY|JOIN|ON CONFLICT|IS (NOT )?NULL|LIMIT \?)\b|\w\s*(=|<|>|<=|>=|<>|!=)\s*\?/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every string and template literal of a file (a template's substitutions read as `_`), with its line. */
function stringsOf(file: string): { text: string; line: number }[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: { text: string; line: number }[] = [];
  const visit = (node: ts.Node) => {
    let text: string | undefined;
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) text = node.text;
    else if (ts.isTemplateExpression(node))
      text = node.head.text + node.templateSpans.map((s) => `_${s.literal.text}`).join('');
    if (text !== undefined) {
      out.push({ text, line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
      if (ts.isTemplateExpression(node)) for (const span of node.templateSpans) visit(span.expression);
      return;
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

describe('the SQLite-only constructs', () => {
  it.each(RULES.map((r) => [r.name, r] as const))('%s: caught, and its portable spelling passes', (_name, rule) => {
    const [sqliteOnly, portable] = rule.example;
    expect(sqliteOnlyConstructs(sqliteOnly).map((r) => r.name)).toContain(rule.name);
    expect(sqliteOnlyConstructs(portable)).toEqual([]);
  });

  it('leave portable SQL alone', () => {
    for (const sql of [
      "SELECT COUNT(*) AS n, MAX(created_at) AS last, MIN(day) FROM t WHERE a LIKE ? ESCAPE '\\' AND b || c = ?",
      'SELECT COALESCE(MAX(seq), 0) + 1 AS next, CASE WHEN code IS NOT NULL THEN 1 ELSE 0 END AS has_code FROM t',
      "UPDATE t SET status = 'active', updated_at = ? WHERE id = ? AND (CAST(? AS TEXT) IS NULL OR ts <= ?)",
      'INSERT INTO t (a) VALUES (?) ON CONFLICT (a) DO UPDATE SET n = t.n + 1 WHERE excluded.ts > t.ts RETURNING id',
    ]) {
      expect(sqliteOnlyConstructs(sql).map((r) => r.name)).toEqual([]);
    }
  });
});

describe("the server's SQL", () => {
  it('uses no SQLite-only construct outside the modules that are SQLite-only by design', () => {
    const files = sourceFiles(SERVER_SRC)
      .map((f) => ({ path: f, rel: relative(REPO, f).split('\\').join('/') }))
      .filter(({ rel }) => !EXEMPT.includes(rel) && !EXEMPT_DIRS.some((d) => rel.startsWith(d)));
    expect(files.length).toBeGreaterThan(50);
    let sqlStrings = 0;
    const findings: string[] = [];
    for (const { path, rel } of files) {
      for (const { text, line } of stringsOf(path)) {
        if (!LOOKS_LIKE_SQL.test(text)) continue;
        sqlStrings++;
        for (const rule of sqliteOnlyConstructs(text)) {
          const sql = text.replace(/\s+/g, ' ').trim().slice(0, 160);
          findings.push(`${rel}:${line}: ${rule.name} in "${sql}"\n    write instead: ${rule.instead}`);
        }
      }
    }
    // The scan must be looking at the server's SQL at all.
    expect(sqlStrings).toBeGreaterThan(200);
    expect(findings, `SQL that PostgreSQL would reject or read differently:\n${findings.join('\n')}`).toEqual([]);
  });
});

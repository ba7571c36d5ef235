/**
 * Named prepared statements for the hottest SQL (docs/benchmarks.md → PostgreSQL per job).
 *
 * TypeORM's `query()` sends every statement unnamed, so PostgreSQL parses and plans it again on
 * every call; node-postgres prepares a statement once per connection when the query config has
 * a `name`. `prepared(text)` returns that config (TypeORM hands its query argument to
 * node-postgres unchanged, and logs it through `toString`, which gives the text back). Replaying
 * a job's nine writes, this took PostgreSQL's CPU from 2.71 to 1.64 ms per job
 * (bench/job-updates.bench.mjs).
 *
 * A prepared statement's result type is fixed when it is prepared: callers list their columns
 * instead of `*`, so a migration that adds a column (a rolling deploy) does not make the running
 * processes' statements fail with "cached plan must not change result type".
 *
 * Off (`DATABASE_PREPARED_STATEMENTS=false`) behind a pooler that cannot keep a session's
 * prepared statements (PgBouncer in transaction mode before 1.21).
 */
export interface PreparedStatement {
  name: string;
  text: string;
  toString(): string;
}

/** Distinct statement texts a process names; past this (dynamic SQL gone wild) texts run unnamed. */
const MAX_STATEMENTS = 200;
const named = new Map<string, PreparedStatement>();
let enabled = true;

/** Set once at boot from DATABASE_PREPARED_STATEMENTS. */
export function usePreparedStatements(on: boolean): void {
  enabled = on;
}

/** `text` as a named statement (or the text itself when off or past the cap), for `query()`. */
export function prepared(text: string): string {
  if (!enabled) return text;
  let s = named.get(text);
  if (!s) {
    if (named.size >= MAX_STATEMENTS) return text;
    s = { name: `wc_${named.size}`, text, toString: () => text };
    named.set(text, s);
  }
  // node-postgres reads { name, text } from the config object; TypeORM passes it through.
  return s as unknown as string;
}

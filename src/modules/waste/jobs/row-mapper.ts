/** What a row mapper needs of a TypeORM column (ColumnMetadata has these). */
export interface MappedColumn {
  propertyName: string;
  databaseName: string;
  type: unknown;
  transformer?: unknown;
}

/** Column types node-postgres may hand over as strings, which the entity declares as numbers. */
const NUMERIC = new Set([
  'smallint',
  'int2',
  'integer',
  'int',
  'int4',
  'double precision',
  'float8',
  'real',
  'float4',
  Number,
]);
/** Types node-postgres hands over as strings that a plain Number() could round: refused. */
const UNMAPPED = new Set(['bigint', 'int8', 'numeric', 'decimal']);

/**
 * A function turning a raw PostgreSQL row (`SELECT *` / `RETURNING *`, snake_case columns) into
 * an instance of `target`, built once from the entity's own column metadata: the entity is the
 * one description of the row, and the mapping cannot drift from it.
 *
 * The status and save paths map a row per request, so the function is generated as straight-line
 * code (one monomorphic store per column), which V8 runs faster than both a loop over the columns
 * and an object literal per row. The generated source holds only property and column names from
 * the entity's decorators, quoted with JSON.stringify; no row value ever becomes code.
 */
export function rowMapper<T>(
  target: new () => T,
  columns: readonly MappedColumn[],
): (row: Record<string, unknown>) => T {
  const lines = columns.map((c) => {
    if (c.transformer) {
      throw new Error(`${target.name}.${c.propertyName}: column transformers are not mapped`);
    }
    if (typeof c.type === 'string' && UNMAPPED.has(c.type)) {
      throw new Error(`${target.name}.${c.propertyName}: ${c.type} columns are not mapped`);
    }
    const from = `r[${JSON.stringify(c.databaseName)}]`;
    const value = NUMERIC.has(c.type as string)
      ? `${from} === null || ${from} === undefined ? ${from} : Number(${from})`
      : from;
    return `e[${JSON.stringify(c.propertyName)}] = ${value};`;
  });
  const build = new Function(
    'Target',
    `return function ${target.name}FromRow(r) {\nconst e = new Target();\n${lines.join('\n')}\nreturn e;\n};`,
  ) as (t: new () => T) => (row: Record<string, unknown>) => T;
  return build(target);
}

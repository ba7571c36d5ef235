import { prepared, usePreparedStatements } from './prepared';

describe('prepared (named statements for node-postgres through TypeORM)', () => {
  afterEach(() => usePreparedStatements(true));

  it('gives one stable name per text, and the text back when logged', () => {
    const a = prepared('SELECT 1 AS a') as unknown as { name: string; text: string };
    const again = prepared('SELECT 1 AS a') as unknown as { name: string };
    const b = prepared('SELECT 2 AS b') as unknown as { name: string };
    expect(a.text).toBe('SELECT 1 AS a');
    expect(again.name).toBe(a.name);
    expect(b.name).not.toBe(a.name);
    expect(`query failed: ${String(a)}`).toBe('query failed: SELECT 1 AS a');
  });

  it('is the plain text when turned off (a pooler that cannot keep prepared statements)', () => {
    usePreparedStatements(false);
    expect(prepared('SELECT 3')).toBe('SELECT 3');
  });

  it('stops naming new texts past its cap, so dynamic SQL cannot grow it without bound', () => {
    for (let i = 0; i < 300; i++) prepared(`SELECT ${i} AS n`);
    expect(prepared('SELECT 1000 AS late')).toBe('SELECT 1000 AS late');
  });
});

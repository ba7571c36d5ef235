import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Metrics } from '../observability/metrics';
import { HttpCallError, HttpClient, retryAfterMs } from './http-client';

/** An in-process HTTP server on 127.0.0.1 whose answer each test sets. */
let server: Server;
let base: string;
let answer: (req: IncomingMessage, res: ServerResponse) => void;

beforeAll(async () => {
  server = createServer((req, res) => answer(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const client = new HttpClient({ service: 'unit_test', name: 'Unit', timeoutMs: 2000 });
const fail = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as HttpCallError,
  );

async function count(outcome: string): Promise<number> {
  const metric = await new Metrics().registry.getSingleMetric('third_party_requests_total')?.get();
  return (
    metric?.values.find((v) => v.labels.service === 'unit_test' && v.labels.outcome === outcome)
      ?.value ?? 0
  );
}

describe('HttpClient', () => {
  it('returns a 2xx answer with its body, and counts it', async () => {
    answer = (_req, res) => res.end('{"a":1}');
    const before = await count('ok');
    const res = await client.request(`${base}/x`);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ a: 1 });
    expect(await count('ok')).toBe(before + 1);
  });

  it('a 2xx that is not JSON fails as bad_json when parsed', async () => {
    answer = (_req, res) => res.end('<html>');
    const res = await client.request(`${base}/x`);
    expect(() => res.json()).toThrow(expect.objectContaining({ kind: 'bad_json', status: 200 }));
  });

  it('classifies answers: 429 and 5xx are transient with Retry-After, 4xx are not', async () => {
    answer = (_req, res) => res.writeHead(429, { 'retry-after': '7' }).end('slow down');
    const limited = await fail(client.request(`${base}/x`));
    expect(limited).toMatchObject({ kind: 'status', status: 429, retryAfterMs: 7000 });
    expect(limited.transient).toBe(true);
    expect(limited.body).toBe('slow down');
    expect(limited.message).toBe('Unit answered 429: slow down');

    answer = (_req, res) => res.writeHead(503).end();
    expect((await fail(client.request(`${base}/x`))).transient).toBe(true);
    answer = (_req, res) => res.writeHead(401).end('{"error":"bad token"}');
    const denied = await fail(client.request(`${base}/x`));
    expect(denied).toMatchObject({ kind: 'status', status: 401 });
    expect(denied.transient).toBe(false);
  });

  it('no answer within the deadline is a transient timeout', async () => {
    answer = () => undefined; // never answers
    const before = await count('timeout');
    const err = await fail(client.request(`${base}/x`, {}, 100));
    expect(err).toMatchObject({ kind: 'timeout', message: 'Unit did not answer within 100 ms' });
    expect(err.transient).toBe(true);
    expect(await count('timeout')).toBe(before + 1);
  });

  it('a refused connection is a transient network failure', async () => {
    const err = await fail(client.request('http://127.0.0.1:1/'));
    expect(err.kind).toBe('network');
    expect(err.transient).toBe(true);
  });

  it('the metered fetch hands the SDK any answer, counted by outcome', async () => {
    answer = (_req, res) => res.writeHead(500).end();
    const before = await count('server_error');
    const res = await client.fetch(`${base}/x`);
    expect(res.status).toBe(500);
    expect(await count('server_error')).toBe(before + 1);
  });
});

describe('retryAfterMs', () => {
  it('reads seconds, milliseconds and HTTP dates', () => {
    expect(retryAfterMs(new Headers({ 'retry-after': '2' }))).toBe(2000);
    expect(retryAfterMs(new Headers({ 'retry-after-ms': '150' }))).toBe(150);
    const later = new Date(Date.now() + 60_000).toUTCString();
    expect(retryAfterMs(new Headers({ 'retry-after': later }))).toBeGreaterThan(50_000);
    expect(retryAfterMs(new Headers())).toBeUndefined();
  });
});

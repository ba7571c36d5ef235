import { RunningApp } from '../../src/app/bootstrap';
import { Tokens, call } from '../auth/http';
import { bootRole } from '../support/app';
import { Isolation, isolate } from '../support/isolation';

/**
 * A route with two limits (analyze: per user, then per IP) counts both in one Redis round trip
 * (RateLimitService.consumeAll), with the order of counting one at a time: the first spent
 * limit refuses, and the limits after it do not count the refused request.
 */
describe('a route with a per-user and a per-IP limit', () => {
  let iso: Isolation;
  let app: RunningApp;

  beforeAll(async () => {
    iso = await isolate('ratelimitrules');
    app = await bootRole(iso, {
      APP_ROLE: 'all',
      VISION_PROVIDER: 'none',
      RATE_LIMIT_WINDOW_SECONDS: '60',
      RATE_LIMIT_ANALYZE_PER_USER: '2',
      RATE_LIMIT_ANALYZE_PER_IP: '3',
      TRUSTED_PROXY_HOPS: '1',
    });
  });

  afterAll(async () => {
    await app?.close();
    await iso?.cleanup();
  });

  const guest = async (ip: string) => {
    const res = await call<Tokens>('POST', `${app.url}/api/v1/auth/guest`, {
      body: {},
      headers: { 'x-forwarded-for': ip },
    });
    expect(res.status).toBe(201);
    return res.body.accessToken;
  };
  const analyze = (token: string, ip: string) =>
    call('POST', `${app.url}/api/v1/waste/analyze`, {
      token,
      headers: { 'x-forwarded-for': ip },
      body: { contentType: 'image/jpeg', contentLength: 1000 },
    });

  it('refuses at the first spent limit and leaves the later ones uncounted', async () => {
    const ip = '203.0.113.50';
    const [a, b] = [await guest('198.51.100.1'), await guest('198.51.100.2')];
    expect((await analyze(a, ip)).status).toBe(201);
    expect((await analyze(a, ip)).status).toBe(201);
    // a's own limit (2) is spent: refused before the per-IP counter sees it.
    const byUser = await analyze(a, ip);
    expect(byUser.status).toBe(429);
    expect(byUser.body.code).toBe('RATE_LIMITED');
    expect(Number(byUser.headers.get('retry-after'))).toBeGreaterThan(0);
    // So the address has used 2 of its 3, not 3: b gets one more, then the address is spent.
    expect((await analyze(b, ip)).status).toBe(201);
    const byIp = await analyze(b, ip);
    expect(byIp.status).toBe(429);
    expect(byIp.body.code).toBe('RATE_LIMITED');
    // The per-user rule comes first: it counted that refused request, so b's own 2 are spent
    // (from any address), while a fresh address serves a fresh user.
    expect((await analyze(b, '203.0.113.51')).status).toBe(429);
    expect((await analyze(await guest('198.51.100.4'), '203.0.113.51')).status).toBe(201);
  });

  it('counts a limited request before validating its body', async () => {
    const ip = '203.0.113.60';
    const c = await guest('198.51.100.3');
    for (let i = 0; i < 2; i++) {
      const bad = await call('POST', `${app.url}/api/v1/waste/analyze`, {
        token: c,
        headers: { 'x-forwarded-for': ip },
        body: { contentType: 'image/jpeg', contentLength: 1000, surprise: 1 },
      });
      expect(bad.status).toBe(400);
    }
    expect((await analyze(c, ip)).status).toBe(429);
  });
});

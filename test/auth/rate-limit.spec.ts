import { RunningApp } from '../../src/app/bootstrap';
import { bootRole } from '../support/app';
import { Isolation, isolate } from '../support/isolation';
import { Tokens, call } from './http';

/**
 * Rate limits live in Redis, so two API replicas share them. Clients are told apart by the
 * address our proxy appended to X-Forwarded-For (TRUSTED_PROXY_HOPS=1).
 */
describe('two API replicas: shared rate limits and deny list', () => {
  let iso: Isolation;
  let apps: RunningApp[];
  const limits = {
    RATE_LIMIT_WINDOW_SECONDS: '2',
    RATE_LIMIT_LOGIN_PER_IP: '3',
    RATE_LIMIT_REFRESH_PER_IP: '5',
    RATE_LIMIT_REFRESH_PER_USER: '2',
    // One proxy (the ALB) in front, as the chart configures it.
    TRUSTED_PROXY_HOPS: '1',
  };

  beforeAll(async () => {
    iso = await isolate('authratelimit');
    const first = await bootRole(iso, { APP_ROLE: 'all', ...limits });
    apps = [first, await bootRole(iso, { APP_ROLE: 'api', ...limits })];
  });

  afterAll(async () => {
    await Promise.all((apps ?? []).map((a) => a.close()));
    await iso?.cleanup();
  });

  const from = (ip: string) => ({ 'x-forwarded-for': ip });
  const guest = (replica: number, ip: string) =>
    call<Tokens>('POST', `${apps[replica].url}/api/v1/auth/guest`, { body: {}, headers: from(ip) });
  const refresh = (replica: number, ip: string, refreshToken: string) =>
    call<Tokens>('POST', `${apps[replica].url}/api/v1/auth/refresh`, {
      body: { refreshToken },
      headers: from(ip),
    });

  it('login per IP: the limit is shared by both replicas; 429 carries Retry-After', async () => {
    const ip = '203.0.113.10';
    expect((await guest(0, ip)).status).toBe(201);
    expect((await guest(1, ip)).status).toBe(201);
    expect((await guest(0, ip)).status).toBe(201);
    const limited = await guest(1, ip);
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('RATE_LIMITED');
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(2);
    // OAuth login shares the bucket (and is refused before any provider is called).
    const oauth = await call('POST', `${apps[0].url}/api/v1/auth/oauth/kakao`, {
      body: { accessToken: 'x' },
      headers: from(ip),
    });
    expect(oauth.status).toBe(429);
    // A forged left-hand X-Forwarded-For entry does not buy a fresh bucket.
    expect((await guest(0, `198.51.100.1, ${ip}`)).status).toBe(429);
    // Another client is unaffected.
    expect((await guest(0, '203.0.113.11')).status).toBe(201);
    // After the window, the client may log in again.
    await new Promise((r) => setTimeout(r, retryAfter * 1000 + 100));
    expect((await guest(1, ip)).status).toBe(201);
  });

  it('refresh per user: a token holder cannot spin refreshes from many addresses', async () => {
    const login = await guest(0, '203.0.113.20');
    const r1 = await refresh(0, '203.0.113.21', login.body.refreshToken);
    expect(r1.status).toBe(200);
    const r2 = await refresh(1, '203.0.113.22', r1.body.refreshToken);
    expect(r2.status).toBe(200);
    const r3 = await refresh(0, '203.0.113.23', r2.body.refreshToken);
    expect(r3.status).toBe(429);
    expect(r3.headers.get('retry-after')).toMatch(/^[12]$/);
    // Being limited did not spend the token: it works once the window has passed.
    await new Promise((r) => setTimeout(r, Number(r3.headers.get('retry-after')) * 1000 + 100));
    expect((await refresh(1, '203.0.113.24', r2.body.refreshToken)).status).toBe(200);
  });

  it('refresh per IP: guessing refresh tokens is cut off', async () => {
    const ip = '203.0.113.30';
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await refresh(i % 2, ip, `guess-${i}`)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
  });

  it('logout on one replica makes the access token fail on the other at once', async () => {
    const login = await guest(0, '203.0.113.40');
    const me = (replica: number) =>
      call('GET', `${apps[replica].url}/api/v1/users/me`, { token: login.body.accessToken });
    expect((await me(1)).status).toBe(200);
    const out = await call('POST', `${apps[0].url}/api/v1/auth/logout`, {
      token: login.body.accessToken,
      body: { refreshToken: login.body.refreshToken },
    });
    expect(out.status).toBe(204);
    expect((await me(1)).status).toBe(401);
  });
});

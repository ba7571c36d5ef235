import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { waitFor } from '../support/amqp';
import { TEST_JWT_SECRET } from '../support/app';
import { bearer, guestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { RoleProcess, startRole } from '../support/processes';

type Line = Record<string, unknown>;

/**
 * The API's log lines from the compiled image (docs/architecture.md → Where each behaviour
 * lives): one JSON line per answered request with its request id, and the same request id on
 * every line a service writes while handling it — a request with a body included (the handler
 * runs after the body's stream events, where an async context entered before them is lost).
 */
describe('request logs: request ids in every line, polls and health quiet', () => {
  let iso: Isolation;
  let api: RoleProcess;
  const lines = () =>
    api
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Line);

  beforeAll(async () => {
    iso = await isolate('reqlogs');
    const env = {
      ...iso.env,
      JWT_SECRET: TEST_JWT_SECRET,
      RATE_LIMIT_LOGIN_PER_IP: '0',
      LOG_LEVEL: 'info',
    };
    execFileSync(process.execPath, [join(__dirname, '..', '..', 'dist/core/database/migrate.js')], {
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    api = await startRole('api', env);
  });
  afterAll(async () => {
    await api?.kill();
    await iso?.cleanup();
  });

  it('a service warning during a POST carries the request id, and so does the request line', async () => {
    const login = await guestLogin(api.url);
    const refresh = (requestId: string) =>
      fetch(`${api.url}/api/v1/auth/refresh`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': requestId },
        body: JSON.stringify({ refreshToken: login.refreshToken }),
      });
    expect((await refresh('req-first-use')).status).toBe(200);
    // A spent refresh token again: TokenService warns that the family is revoked.
    const reuse = await refresh('req-reuse.1');
    expect(reuse.status).toBe(401);
    expect(reuse.headers.get('x-request-id')).toBe('req-reuse.1');
    const warning = await waitFor('the reuse warning', () =>
      lines().find((l) => String(l.msg).includes('refresh token reuse')),
    );
    expect(warning).toMatchObject({ requestId: 'req-reuse.1', level: 40 });
    const answered = await waitFor('the request line', () =>
      lines().find((l) => l.requestId === 'req-reuse.1' && l.msg === 'request completed'),
    );
    expect(answered).toMatchObject({
      req: { method: 'POST', url: '/api/v1/auth/refresh' },
      res: { statusCode: 401 },
    });
    expect(JSON.stringify(answered)).not.toContain(login.refreshToken);
  });

  it('fast status polls and health checks write no line; the request id comes back', async () => {
    const login = await guestLogin(api.url);
    const poll = await fetch(
      `${api.url}/api/v1/waste/status/00000000-0000-4000-8000-000000000000`,
      { headers: { ...bearer(login), 'x-request-id': 'req-poll-404' } },
    );
    expect(poll.status).toBe(404); // a failing poll is logged
    const live = await fetch(`${api.url}/health/live`, { headers: { 'x-request-id': 'req-live' } });
    expect(live.headers.get('x-request-id')).toBe('req-live');
    const me = await fetch(`${api.url}/api/v1/users/me`, {
      headers: { ...bearer(login), 'x-request-id': 'req-me' },
    });
    expect(me.status).toBe(200);
    await waitFor('the users/me line', () => lines().find((l) => l.requestId === 'req-me'));
    const failedPoll = lines().find(
      (l) => l.requestId === 'req-poll-404' && l.msg === 'request completed',
    );
    expect(failedPoll).toMatchObject({
      res: { statusCode: 404 },
      level: 40,
    });
    expect(lines().some((l) => l.requestId === 'req-live')).toBe(false);
  });
});

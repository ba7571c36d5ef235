import { randomUUID } from 'node:crypto';
import { RunningApp } from '../../src/app/bootstrap';
import { HistoryService } from '../../src/modules/users/history.service';
import { call } from '../auth/http';
import { bootRole } from '../support/app';
import { TestLogin, guestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';

/**
 * Object-level authorisation: user B walks every users endpoint, aiming at user A's resources
 * with every id B could try. Nothing of A's is ever read, changed or deleted, and the answer
 * for A's objects is 404 (never 403: no existence leak).
 */
describe('users: access control with a second user', () => {
  let iso: Isolation;
  let app: RunningApp;
  let api: string;
  let a: TestLogin;
  let b: TestLogin;
  let aJob: string;
  let bJob: string;

  beforeAll(async () => {
    iso = await isolate('usersacl');
    app = await bootRole(iso, { APP_ROLE: 'all', RATE_LIMIT_LOGIN_PER_IP: '1000' });
    api = `${app.url}/api/v1`;
    [a, b] = [await guestLogin(app.url!), await guestLogin(app.url!)];
    const history = app.app.get(HistoryService);
    aJob = randomUUID();
    bJob = randomUUID();
    for (const [user, jobId] of [
      [a, aJob],
      [b, bJob],
    ] as const) {
      await history.recordAnalysis({
        userId: user.user.id,
        jobId,
        createdAt: new Date(),
        status: 'completed',
        items: [{ label: 'secret', categoryId: 'pet', categoryName: 'PET' }],
        job: { jobId, owner: user.user.id },
      });
    }
  });

  afterAll(async () => {
    await app?.close();
    await iso?.cleanup();
  });

  const asB = (method: string, path: string, body?: unknown) =>
    call(method, `${api}${path}`, { token: b.accessToken, body });

  it("B's /users/me is B's own, whatever B adds to the request", async () => {
    for (const path of [
      '/users/me',
      `/users/me?userId=${a.user.id}`,
      `/users/me?id=${a.user.id}`,
    ]) {
      const me = await asB('GET', path);
      expect(me.status).toBe(200);
      expect(me.body.id).toBe(b.user.id);
      expect(JSON.stringify(me.body)).not.toContain(a.user.id);
    }
    // A's profile cannot be addressed by id at all.
    expect((await asB('GET', `/users/${a.user.id}`)).status).toBe(404);
    expect((await asB('PATCH', `/users/${a.user.id}`, { nickname: 'pwned' })).status).toBe(404);
    expect((await asB('DELETE', `/users/${a.user.id}`)).status).toBe(404);
    expect((await asB('PATCH', '/users/me', { id: a.user.id, nickname: 'pwned' })).status).toBe(
      400,
    );
  });

  it("B's history lists only B's jobs", async () => {
    const list = await asB('GET', '/users/me/history?limit=100');
    expect(list.status).toBe(200);
    expect((list.body.items as { jobId: string }[]).map((i) => i.jobId)).toEqual([bJob]);
  });

  it("A's history item is 404 for B, for reading and deleting, and survives", async () => {
    for (const id of [aJob, aJob.toUpperCase(), randomUUID(), 'not-a-uuid', '..%2F..%2Fusers']) {
      for (const method of ['GET', 'DELETE']) {
        const res = await asB(method, `/users/me/history/${id}`);
        expect({ id, method, status: res.status, code: res.body.code }).toEqual({
          id,
          method,
          status: 404,
          code: 'NOT_FOUND',
        });
      }
    }
    const own = await call('GET', `${api}/users/me/history/${aJob}`, { token: a.accessToken });
    expect(own.status).toBe(200);
    expect(own.body).toEqual({ jobId: aJob, owner: a.user.id });
  });

  it("B's PATCH and DELETE of /users/me touch only B", async () => {
    expect((await asB('PATCH', '/users/me', { nickname: 'B의 이름' })).status).toBe(200);
    expect((await asB('DELETE', '/users/me')).status).toBe(204);
    const aMe = await call('GET', `${api}/users/me`, { token: a.accessToken });
    expect(aMe.status).toBe(200);
    expect(aMe.body.nickname).toBe(a.user.nickname);
    expect((aMe.body.stats as { analyses: number }).analyses).toBe(1);
  });

  it('every users endpoint refuses a missing token', async () => {
    for (const [method, path] of [
      ['GET', '/users/me'],
      ['PATCH', '/users/me'],
      ['DELETE', '/users/me'],
      ['GET', '/users/me/history'],
      ['GET', `/users/me/history/${aJob}`],
      ['DELETE', `/users/me/history/${aJob}`],
      ['POST', '/auth/logout'],
    ]) {
      const res = await call(method, `${api}${path}`, { body: method === 'GET' ? undefined : {} });
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 401 });
    }
  });
});

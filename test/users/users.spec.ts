import amqp from 'amqplib';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { RunningApp } from '../../src/app/bootstrap';
import { runMigrations } from '../../src/core/database/migrate';
import { HistoryService } from '../../src/modules/users/history.service';
import { Tokens, call } from '../auth/http';
import { bootRole } from '../support/app';
import { guestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';

const DAY = 86_400_000;

interface Me {
  id: string;
  nickname: string;
  profileImageUrl?: string;
  providers: string[];
  stats: { analyses: number; itemsByCategory: Record<string, number>; streakDays: number };
  code?: string;
}

interface Page {
  items: { jobId: string; createdAt: string; status: string; items: unknown[] }[];
  nextCursor: string | null;
}

/** The `api` role (no bulk consumer), so the purge message stays in q.bulk for us to see. */
describe('users: profile, stats, history, deletion', () => {
  let iso: Isolation;
  let app: RunningApp;
  let api: string;
  let history: HistoryService;

  beforeAll(async () => {
    iso = await isolate('users');
    await runMigrations(iso.databaseUrl);
    app = await bootRole(iso, { APP_ROLE: 'api', RATE_LIMIT_LOGIN_PER_IP: '1000' });
    api = `${app.url}/api/v1`;
    history = app.app.get(HistoryService);
  });

  afterAll(async () => {
    await app?.close();
    await iso?.cleanup();
  });

  const record = (userId: string, createdAt: Date, categories: string[], status = 'completed') => {
    const jobId = randomUUID();
    return history
      .recordAnalysis({
        userId,
        jobId,
        createdAt,
        status: status as 'completed' | 'failed',
        items: categories.map((c) => ({ label: `a ${c}`, categoryId: c, categoryName: c })),
        job: {
          jobId,
          status,
          createdAt: createdAt.toISOString(),
          result: { n: categories.length },
        },
      })
      .then(() => jobId);
  };

  it('GET /users/me: the profile with stats from the history rows', async () => {
    const user = await guestLogin(app.url!);
    const now = Date.now();
    await record(user.user.id, new Date(now), ['pet', 'paper']);
    await record(user.user.id, new Date(now - 1000), ['pet']);
    await record(user.user.id, new Date(now - DAY), ['can']);
    await record(user.user.id, new Date(now - 2 * DAY), ['pet']);
    await record(user.user.id, new Date(now - 4 * DAY), ['glass']); // after a gap: not in the streak
    await record(user.user.id, new Date(now), ['battery'], 'failed'); // failed: not counted
    const res = await call<Me>('GET', `${api}/users/me`, { token: user.accessToken });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: user.user.id, providers: ['guest'] });
    expect(res.body.stats).toEqual({
      analyses: 5,
      itemsByCategory: { pet: 3, paper: 1, can: 1, glass: 1 },
      streakDays: 3,
    });
  });

  it('PATCH /users/me changes nickname and picture, and validates them', async () => {
    const user = await guestLogin(app.url!);
    const patch = (body: unknown) =>
      call<Me>('PATCH', `${api}/users/me`, { token: user.accessToken, body });
    const ok = await patch({
      nickname: '  분리수거왕 ',
      profileImageUrl: 'https://cdn.example.com/a.png',
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      nickname: '분리수거왕',
      profileImageUrl: 'https://cdn.example.com/a.png',
    });
    expect((await patch({ profileImageUrl: null })).body.profileImageUrl).toBeUndefined();
    expect((await patch({})).body.nickname).toBe('분리수거왕');
    for (const bad of [
      { nickname: '' },
      { nickname: '   ' },
      { nickname: 'x'.repeat(31) },
      { profileImageUrl: 'http://insecure.example.com/a.png' },
      { profileImageUrl: 'javascript:alert(1)' },
      { isGuest: false },
      { id: randomUUID() },
    ]) {
      const res = await patch(bad);
      expect({ bad, status: res.status, code: res.body.code }).toEqual({
        bad,
        status: 400,
        code: 'VALIDATION_FAILED',
      });
    }
    expect(
      (await call<Me>('GET', `${api}/users/me`, { token: user.accessToken })).body.nickname,
    ).toBe('분리수거왕');
  });

  it('history: newest first, cursor pages, detail is the stored Job, delete removes it', async () => {
    const user = await guestLogin(app.url!);
    const base = Date.now() - 10 * DAY;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(await record(user.user.id, new Date(base + i * 1000), ['pet']));
    // Two jobs in the same millisecond still page without loss or repeats.
    ids.push(await record(user.user.id, new Date(base + 4000), ['can']));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const qs: string = cursor ? `limit=2&cursor=${encodeURIComponent(cursor)}` : 'limit=2';
      const page = await call<Page>('GET', `${api}/users/me/history?${qs}`, {
        token: user.accessToken,
      });
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((i) => i.jobId));
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(6);
    expect(seen.slice(2)).toEqual([ids[3], ids[2], ids[1], ids[0]]);

    const detail = await call('GET', `${api}/users/me/history/${ids[0]}`, {
      token: user.accessToken,
    });
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ jobId: ids[0], status: 'completed', result: { n: 1 } });

    const del = await call('DELETE', `${api}/users/me/history/${ids[0]}`, {
      token: user.accessToken,
    });
    expect(del.status).toBe(204);
    expect(
      (await call('GET', `${api}/users/me/history/${ids[0]}`, { token: user.accessToken })).status,
    ).toBe(404);
    expect(
      (await call('DELETE', `${api}/users/me/history/${ids[0]}`, { token: user.accessToken }))
        .status,
    ).toBe(404);

    for (const qs of ['limit=0', 'limit=101', 'limit=abc', 'cursor=not-a-cursor', 'sort=asc']) {
      const res = await call('GET', `${api}/users/me/history?${qs}`, { token: user.accessToken });
      expect({ qs, status: res.status }).toEqual({ qs, status: 400 });
    }
  });

  it('recordAnalysis is idempotent on jobId and drops rows of deleted users', async () => {
    const user = await guestLogin(app.url!);
    const jobId = randomUUID();
    const entry = {
      userId: user.user.id,
      jobId,
      createdAt: new Date(),
      status: 'completed' as const,
      items: [{ label: 'can', categoryId: 'can', categoryName: '캔류' }],
      job: { jobId, status: 'completed' },
    };
    await Promise.all([history.recordAnalysis(entry), history.recordAnalysis(entry)]);
    await history.recordAnalysis(entry);
    expect(await history.countByUser(user.user.id)).toBe(1);
    // Another user cannot take over a job id through a forged message.
    const other = await guestLogin(app.url!);
    await history.recordAnalysis({ ...entry, userId: other.user.id, job: { stolen: true } });
    expect(await history.countByUser(other.user.id)).toBe(0);
    expect(await history.get(user.user.id, jobId)).toEqual({ jobId, status: 'completed' });
    await expect(
      history.recordAnalysis({ ...entry, jobId: randomUUID(), userId: randomUUID() }),
    ).resolves.toBeUndefined();
  });

  it('DELETE /users/me removes account, tokens and history and queues the image purge', async () => {
    const user = await guestLogin(app.url!);
    const bystander = await guestLogin(app.url!);
    await record(user.user.id, new Date(), ['pet']);
    const kept = await record(bystander.user.id, new Date(), ['pet']);
    const refreshed = await call<Tokens>('POST', `${api}/auth/refresh`, {
      body: { refreshToken: user.refreshToken },
    });
    const res = await call('DELETE', `${api}/users/me`, { token: refreshed.body.accessToken });
    expect(res.status).toBe(204);

    for (const token of [refreshed.body.accessToken, user.accessToken]) {
      expect((await call('GET', `${api}/users/me`, { token })).status).toBe(401);
    }
    expect(
      (
        await call('POST', `${api}/auth/refresh`, {
          body: { refreshToken: refreshed.body.refreshToken },
        })
      ).status,
    ).toBe(401);
    const ds = app.app.get(DataSource);
    const left = (await ds.query(
      `SELECT (SELECT count(*) FROM auth.users WHERE id = $1)::int AS users,
              (SELECT count(*) FROM auth.refresh_tokens WHERE user_id = $1)::int AS tokens,
              (SELECT count(*) FROM users.history WHERE user_id = $1)::int AS history`,
      [user.user.id],
    )) as { users: number; tokens: number; history: number }[];
    expect(left[0]).toEqual({ users: 0, tokens: 0, history: 0 });
    expect(await history.get(bystander.user.id, kept)).toBeDefined();

    const conn = await amqp.connect(iso.rabbitUrl);
    try {
      const ch = await conn.createChannel();
      const msg = await ch.get('q.bulk', { noAck: true });
      expect(msg).not.toBe(false);
      if (msg) {
        expect(msg.fields.routingKey).toBe('account.low.purge');
        expect(JSON.parse(msg.content.toString())).toEqual({ userId: user.user.id });
        expect(msg.properties.deliveryMode).toBe(2);
      }
      await ch.close();
    } finally {
      await conn.close();
    }
  });
});

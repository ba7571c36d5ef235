import { Client } from 'pg';
import { RunningApp } from '../../src/app/bootstrap';
import { bootRole } from '../support/app';
import { bearer, guestLogin, TestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { makePhoto, nearCopy } from '../support/photos';
import { KakaoAuthStandin } from '../support/standins/kakao-auth.standin';
import { JobBody, submitPhoto, waitForEnd } from '../support/waste-client';

const ADMIN = 'corrections-admin-token-0123456789';

type CachedJob = JobBody & {
  result: NonNullable<JobBody['result']> & { cache: { source?: string | null } };
};

/**
 * A correction changes the corrector's own result and history only; the answer everyone else
 * gets changes once CORRECTION_CONSENSUS_ACCOUNTS distinct registered accounts agree
 * (docs/pipeline.md → Corrections).
 */
describe('corrections are signals: one client cannot rewrite the shared answer', () => {
  let iso: Isolation;
  let app: RunningApp;
  let kakao: KakaoAuthStandin;
  let base: string;
  let db: Client;

  beforeAll(async () => {
    [iso, kakao] = await Promise.all([isolate('corrections'), KakaoAuthStandin.start()]);
    app = await bootRole(iso, {
      APP_ROLE: 'all',
      VISION_PROVIDER: 'none',
      RATE_LIMIT_LOGIN_PER_IP: '0',
      RATE_LIMIT_ANALYZE_PER_USER: '0',
      RATE_LIMIT_ANALYZE_PER_IP: '0',
      KAKAO_API_URL: kakao.url,
      KAKAO_AUTH_URL: kakao.url,
      KAKAO_CLIENT_ID: kakao.clientId,
      CORRECTION_CONSENSUS_ACCOUNTS: '3',
      ADMIN_API_TOKEN: ADMIN,
    });
    base = app.url!;
    db = new Client({ connectionString: iso.databaseUrl });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await app?.close();
    await kakao?.close();
    await iso?.cleanup();
  });

  async function registered(id: string): Promise<TestLogin> {
    const res = await fetch(`${base}/api/v1/auth/oauth/kakao`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ accessToken: kakao.issueToken({ id, nickname: `user ${id}` }) }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as TestLogin;
  }

  async function analyse(who: TestLogin, photo: Buffer): Promise<CachedJob> {
    const { jobId } = await submitPhoto(base, who.accessToken, photo, { hint: '페트병' });
    const job = (await waitForEnd(base, who.accessToken, jobId)) as CachedJob;
    expect(job.status).toBe('completed');
    return job;
  }

  async function correct(who: TestLogin, jobId: string, categoryId: string): Promise<CachedJob> {
    const res = await fetch(`${base}/api/v1/waste/jobs/${jobId}/correction`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(who) },
      body: JSON.stringify({ items: [{ index: 0, categoryId }] }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as CachedJob;
  }

  it('a guest correcting a bottle to battery changes only their own job', async () => {
    const photo = await makePhoto(501);
    const mallory = await guestLogin(base);
    const first = await analyse(mallory, photo);
    expect(first.result.items[0].category.id).toBe('clear-pet');
    expect(first.result.cache).toMatchObject({ hit: false, source: null });
    const corrected = await correct(mallory, first.jobId, 'battery');
    expect(corrected.result.items[0].category.id).toBe('battery');
    const history = await fetch(`${base}/api/v1/users/me/history/${first.jobId}`, {
      headers: bearer(mallory),
    });
    expect(((await history.json()) as JobBody).result!.items[0].category.id).toBe('battery');
    // Mallory tries harder: more guests, the same answer, the same photo.
    for (let i = 0; i < 4; i++) {
      const sock = await guestLogin(base);
      await correct(sock, (await analyse(sock, photo)).jobId, 'battery');
    }
    // Everyone else still gets the provider's answer, for the photo and for a re-encoded copy.
    const bystander = await guestLogin(base);
    const exact = await analyse(bystander, photo);
    expect(exact.result.cache).toMatchObject({ hit: true, kind: 'exact', source: 'vision' });
    expect(exact.result.items[0].category.id).toBe('clear-pet');
    const similar = await analyse(bystander, await nearCopy(photo));
    expect(similar.result.cache).toMatchObject({ hit: true, kind: 'similar', source: 'vision' });
    expect(similar.result.items[0].category.id).toBe('clear-pet');
    // Every correction was kept as a signal, none of them counting (all guests).
    const { rows } = await db.query<{ n: number; counted: number }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE counts)::int AS counted
         FROM waste.correction_signals WHERE answer = 'battery'`,
    );
    expect(rows[0]).toEqual({ n: 5, counted: 0 });
  });

  it('three distinct registered accounts agreeing change the shared answer, marked consensus', async () => {
    const photo = await makePhoto(502);
    const [a, b, c] = [
      await registered('9001'),
      await registered('9002'),
      await registered('9003'),
    ];
    // One account correcting twice still counts once.
    await correct(a, (await analyse(a, photo)).jobId, 'glass-bottle');
    await correct(a, (await analyse(a, photo)).jobId, 'glass-bottle');
    await correct(b, (await analyse(b, photo)).jobId, 'glass-bottle');
    // A third account with a different answer does not complete the consensus.
    const dissent = await analyse(c, photo);
    await correct(c, dissent.jobId, 'plastic');
    const bystander = await guestLogin(base);
    const before = await analyse(bystander, photo);
    expect(before.result.items[0].category.id).toBe('clear-pet');
    expect(before.result.cache.source).toBe('vision');
    // Now the third account agrees (on another job): 3 accounts, one answer.
    await correct(c, (await analyse(c, photo)).jobId, 'glass-bottle');
    const after = await analyse(bystander, photo);
    expect(after.result.cache).toMatchObject({ hit: true, kind: 'exact', source: 'consensus' });
    expect(after.result.items[0].category.id).toBe('glass-bottle');
    const copy = await analyse(bystander, await nearCopy(photo));
    expect(copy.result.cache).toMatchObject({ kind: 'similar', source: 'consensus' });
    expect(copy.result.items[0].category.id).toBe('glass-bottle');
  });

  it('an operator reviews the corrections and accepts one: the shared answer, marked operator', async () => {
    const photo = await makePhoto(503);
    const guest = await guestLogin(base);
    const job = await analyse(guest, photo);
    await correct(guest, job.jobId, 'can-metal');
    const admin = (path: string, method = 'GET') =>
      fetch(`${base}/api/v1/admin/corrections${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN}` },
      });
    expect((await fetch(`${base}/api/v1/admin/corrections`)).status).toBe(401);
    const list = (await (await admin('')).json()) as {
      jobId: string;
      categoryIds: string[];
      accounts: number;
      signals: number;
    }[];
    expect(list.find((g) => g.jobId === job.jobId)).toMatchObject({
      categoryIds: ['can-metal'],
      accounts: 0,
      signals: 1,
    });
    const bystander = await guestLogin(base);
    expect((await analyse(bystander, photo)).result.items[0].category.id).toBe('clear-pet');
    const accepted = await admin(`/${job.jobId}/accept`, 'POST');
    expect(accepted.status).toBe(200);
    const after = await analyse(bystander, photo);
    expect(after.result.cache).toMatchObject({ hit: true, kind: 'exact', source: 'operator' });
    expect(after.result.items[0].category.id).toBe('can-metal');
    expect((await admin('/00000000-0000-4000-8000-000000000000/accept', 'POST')).status).toBe(404);
  });

  it('corrections are rate-limited per user (each one re-runs coaching and writes history)', async () => {
    const who = await guestLogin(base);
    const job = await analyse(who, await makePhoto(504));
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      const res = await fetch(`${base}/api/v1/waste/jobs/${job.jobId}/correction`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...bearer(who) },
        body: JSON.stringify({ items: [{ index: 0, categoryId: i % 2 ? 'paper' : 'battery' }] }),
      });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.headers.get('content-type')).toContain('application/problem+json');
        expect(((await res.json()) as { code: string }).code).toBe('RATE_LIMITED');
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      } else await res.body?.cancel();
    }
    // RATE_LIMIT_CORRECTION_PER_USER defaults to 10 a window.
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(200));
    expect(statuses[10]).toBe(429);
  });
});

import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { RunningApp } from '../../src/app/bootstrap';
import { TokenService } from '../../src/modules/auth/token.service';
import { Tokens, call } from '../auth/http';
import { bootRole } from '../support/app';
import { familyOf } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { KakaoAuthStandin } from '../support/standins/kakao-auth.standin';

/**
 * Revocation survives the loss of Redis (docs/auth.md → Revocation): the deny list is rebuilt
 * from PostgreSQL on the first request after a flush, on whichever replica sees it first.
 */
describe('revocation survives a Redis flush', () => {
  let iso: Isolation;
  let apps: RunningApp[];
  let redis: Redis;
  let kakao: KakaoAuthStandin;

  beforeAll(async () => {
    [iso, kakao] = await Promise.all([isolate('revocation'), KakaoAuthStandin.start()]);
    const env = {
      RATE_LIMIT_LOGIN_PER_IP: '0',
      KAKAO_API_URL: kakao.url,
      KAKAO_AUTH_URL: kakao.url,
      KAKAO_CLIENT_ID: kakao.clientId,
    };
    const first = await bootRole(iso, { ...env, APP_ROLE: 'all' });
    apps = [first, await bootRole(iso, { ...env, APP_ROLE: 'api' })];
    redis = new Redis(iso.env.REDIS_URL);
  });
  afterAll(async () => {
    redis?.disconnect();
    await Promise.all((apps ?? []).map((a) => a.close()));
    await kakao?.close();
    await iso?.cleanup();
  });

  const api = (replica: number) => `${apps[replica].url}/api/v1`;
  const guest = async () => (await call<Tokens>('POST', `${api(0)}/auth/guest`, { body: {} })).body;
  const me = (replica: number, token: string) => call('GET', `${api(replica)}/users/me`, { token });

  /** What FLUSHALL does to this deployment: every key under its prefix is gone. */
  async function flush(): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${iso.redisPrefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    expect(await redis.keys(`${iso.redisPrefix}:auth:*`)).toEqual([]);
  }

  it('a logged-out access token stays dead after the flush, on both replicas', async () => {
    const alice = await guest();
    const bob = await guest();
    expect((await me(1, alice.accessToken)).status).toBe(200);
    const out = await call('POST', `${api(0)}/auth/logout`, {
      token: alice.accessToken,
      body: { refreshToken: alice.refreshToken },
    });
    expect(out.status).toBe(204);
    expect((await me(1, alice.accessToken)).status).toBe(401);
    await flush();
    const again = await me(1, alice.accessToken);
    expect(again.status).toBe(401);
    expect(again.body.code).toBe('UNAUTHORIZED');
    expect((await me(0, alice.accessToken)).status).toBe(401);
    // Everyone else keeps working.
    expect((await me(0, bob.accessToken)).status).toBe(200);
    expect((await me(1, bob.accessToken)).status).toBe(200);
    // A replica that never heard the revocation (started after the flush) denies it too: from
    // the list rebuilt from PostgreSQL, not from memory.
    const late = await bootRole(iso, { RATE_LIMIT_LOGIN_PER_IP: '0', APP_ROLE: 'api' });
    try {
      const res = await call('GET', `${late.url}/api/v1/users/me`, { token: alice.accessToken });
      expect(res.status).toBe(401);
    } finally {
      await late.close();
    }
    // The rebuilt list is back in Redis, with its family entry and a generation.
    const deny = `${iso.redisPrefix}:auth:deny`;
    expect(await redis.zcard(deny)).toBeGreaterThan(1);
    expect(await redis.zscore(deny, 'gen')).not.toBeNull();
  });

  it('a login revoked by refresh-token reuse stays revoked after the flush', async () => {
    const carol = await guest();
    const rotated = await call<Tokens>('POST', `${api(0)}/auth/refresh`, {
      body: { refreshToken: carol.refreshToken },
    });
    expect(rotated.status).toBe(200);
    // The spent token comes back: the whole login is revoked.
    const reuse = await call('POST', `${api(1)}/auth/refresh`, {
      body: { refreshToken: carol.refreshToken },
    });
    expect(reuse.status).toBe(401);
    expect((await me(0, rotated.body.accessToken)).status).toBe(401);
    await flush();
    expect((await me(0, rotated.body.accessToken)).status).toBe(401);
    expect((await me(1, rotated.body.accessToken)).status).toBe(401);
  });

  it('an eviction of the deny entries alone also loses the generation, so it is rebuilt', async () => {
    const erin = await guest();
    const frank = await guest();
    expect((await me(0, erin.accessToken)).status).toBe(200);
    const out = await call('POST', `${api(1)}/auth/logout`, {
      token: erin.accessToken,
      body: { refreshToken: erin.refreshToken },
    });
    expect(out.status).toBe(204);
    expect((await me(0, erin.accessToken)).status).toBe(401);
    // Redis evicts and expires whole keys. Every deny entry lives in one key, next to the
    // generation marker: no other key of the deployment holds any of them.
    const deny = `${iso.redisPrefix}:auth:deny`;
    expect(await redis.keys(`${iso.redisPrefix}:auth:deny*`)).toEqual([deny]);
    expect(await redis.type(deny)).toBe('zset');
    expect(await redis.ttl(deny)).toBe(-1); // persistent: volatile-* policies never pick it
    const members = await redis.zrange(deny, 0, -1);
    expect(members).toContain('gen');
    expect(members.filter((m) => m.startsWith('fam:') || m.startsWith('jti:')).length).toBe(
      members.length - 1,
    );
    // So the most an eviction can take is that key: every entry and the marker together.
    expect(await redis.del(deny)).toBe(1);
    const again = await me(1, erin.accessToken);
    expect(again.status).toBe(401);
    expect(again.body.code).toBe('UNAUTHORIZED');
    expect((await me(0, erin.accessToken)).status).toBe(401);
    expect((await me(0, frank.accessToken)).status).toBe(200);
    expect(await redis.zscore(deny, 'gen')).not.toBeNull();
  });

  it('an entry past its expiry denies nothing and is trimmed at the next write', async () => {
    const gina = await guest();
    const henry = await guest();
    expect((await me(0, gina.accessToken)).status).toBe(200);
    const deny = `${iso.redisPrefix}:auth:deny`;
    const fam = familyOf(gina.accessToken);
    const past = Math.floor(Date.now() / 1000) - 10;
    await redis.zadd(deny, past, `fam:${fam}`);
    expect((await me(0, gina.accessToken)).status).toBe(200);
    // Henry's logout writes to the list, which trims what has expired.
    const out = await call('POST', `${api(0)}/auth/logout`, {
      token: henry.accessToken,
      body: { refreshToken: henry.refreshToken },
    });
    expect(out.status).toBe(204);
    expect(await redis.zscore(deny, `fam:${fam}`)).toBeNull();
    expect(await redis.zscore(deny, 'gen')).not.toBeNull();
    expect((await me(1, henry.accessToken)).status).toBe(401);
  });

  it("a deleted account's token stays dead after the flush, even where its row was cached", async () => {
    const dave = await guest();
    // Both replicas have looked the user up (the guard caches the row for 10 s).
    expect((await me(0, dave.accessToken)).status).toBe(200);
    expect((await me(1, dave.accessToken)).status).toBe(200);
    expect((await call('DELETE', `${api(0)}/users/me`, { token: dave.accessToken })).status).toBe(
      204,
    );
    await flush();
    expect((await me(1, dave.accessToken)).status).toBe(401);
    expect((await me(0, dave.accessToken)).status).toBe(401);
  });

  it("a rebuilt list still denies a deleted account's and a merged guest's logins", async () => {
    // Their refresh-token rows went with the account (ON DELETE CASCADE); the rebuild finds
    // the families in auth.revoked_families. With PostgreSQL down the guard trusts a token the
    // deny list passes (docs/auth.md → Outages), so the family entry itself must come back.
    const deny = `${iso.redisPrefix}:auth:deny`;
    const ivan = await guest();
    expect((await call('DELETE', `${api(0)}/users/me`, { token: ivan.accessToken })).status).toBe(
      204,
    );
    const owner = await call<Tokens>('POST', `${api(0)}/auth/oauth/kakao`, {
      body: { accessToken: kakao.issueToken({ id: '7001', nickname: '주인' }) },
    });
    expect(owner.status).toBe(200);
    const judy = await guest();
    expect((await me(1, judy.accessToken)).status).toBe(200);
    const merged = await call<Tokens>('POST', `${api(0)}/auth/oauth/kakao`, {
      token: judy.accessToken,
      body: { accessToken: kakao.issueToken({ id: '7001', nickname: '주인' }) },
    });
    expect(merged.status).toBe(200);
    expect(merged.body.user.id).toBe(owner.body.user.id);

    expect(await redis.del(deny)).toBe(1);
    // Both replicas heard the revocations and deny those families from memory; the first check
    // that asks Redis (a token neither has seen) finds the list gone and rebuilds it.
    for (const token of [ivan.accessToken, judy.accessToken]) {
      expect((await me(1, token)).status).toBe(401);
    }
    expect((await me(1, (await guest()).accessToken)).status).toBe(200);
    for (const token of [ivan.accessToken, judy.accessToken]) {
      expect(await redis.zscore(deny, `fam:${familyOf(token)}`)).not.toBeNull();
      expect((await me(0, token)).status).toBe(401);
    }
    expect(await redis.zscore(deny, 'gen')).not.toBeNull();
    // The account the guest merged into keeps working.
    expect((await me(0, merged.body.accessToken)).status).toBe(200);
  });

  it('the cleanup prunes revoked families once no access token of theirs can be valid', async () => {
    const ds = apps[0].app.get(DataSource);
    const [old, recent] = [randomUUID(), randomUUID()];
    await ds.query(
      `INSERT INTO auth.revoked_families (family_id, revoked_at)
       VALUES ($1, now() - interval '2 days'), ($2, now())`,
      [old, recent],
    );
    expect(await apps[0].app.get(TokenService).pruneRefreshTokens()).toBeGreaterThanOrEqual(1);
    const left = (await ds.query(
      `SELECT family_id FROM auth.revoked_families WHERE family_id = ANY($1::uuid[])`,
      [[old, recent]],
    )) as { family_id: string }[];
    expect(left.map((r) => r.family_id)).toEqual([recent]);
  });
});

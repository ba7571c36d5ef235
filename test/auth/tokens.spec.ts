import { Controller, Get, Module, UseGuards } from '@nestjs/common';
import { SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { RunningApp } from '../../src/app/bootstrap';
import { JwtAuthGuard } from '../../src/modules/auth/auth.guard';
import { AuthUser, CurrentUser } from '../../src/modules/auth/current-user.decorator';
import { TEST_JWT_SECRET, bootRole } from '../support/app';
import { guestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { Tokens, call } from './http';

/** A controller in a module that does not import AuthModule: the guard must still resolve. */
@Controller('probe-auth')
class ProbeController {
  @Get()
  @UseGuards(JwtAuthGuard)
  whoami(@CurrentUser() user: AuthUser): AuthUser {
    return user;
  }
}
@Module({ controllers: [ProbeController] })
class ProbeModule {}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

async function forge(
  claims: Record<string, unknown>,
  opts: { secret?: string; expiresIn?: number; alg?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ typ: 'access', fam: randomUUID(), jti: randomUUID(), ...claims })
    .setProtectedHeader({ alg: opts.alg ?? 'HS256', typ: 'JWT' })
    .setIssuedAt(now - 10)
    .setExpirationTime(now + (opts.expiresIn ?? 600))
    .sign(new TextEncoder().encode(opts.secret ?? TEST_JWT_SECRET));
}

describe('tokens: access-token checks, refresh rotation and reuse, logout', () => {
  let iso: Isolation;
  let app: RunningApp;
  let api: string;

  beforeAll(async () => {
    iso = await isolate('authtokens');
    app = await bootRole(
      iso,
      { APP_ROLE: 'all', RATE_LIMIT_LOGIN_PER_IP: '1000', RATE_LIMIT_REFRESH_PER_IP: '1000' },
      { imports: [ProbeModule] },
    );
    api = `${app.url}/api/v1`;
  });

  afterAll(async () => {
    await app?.close();
    await iso?.cleanup();
  });

  const me = (token?: string) => call('GET', `${api}/users/me`, { token });
  const refresh = (refreshToken: string) =>
    call<Tokens>('POST', `${api}/auth/refresh`, { body: { refreshToken } });

  it('the guard works from a module that does not import AuthModule', async () => {
    const login = await guestLogin(app.url!);
    const res = await call('GET', `${api}/probe-auth`, { token: login.accessToken });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: login.user.id, isGuest: true });
    expect((await call('GET', `${api}/probe-auth`)).status).toBe(401);
  });

  it('the OpenAPI document describes the auth and users endpoints and their bearer auth', async () => {
    const doc = (await (await fetch(`${app.url}/docs-json`)).json()) as {
      paths: Record<string, Record<string, { security?: unknown[] }>>;
    };
    for (const path of [
      '/api/v1/auth/guest',
      '/api/v1/auth/oauth/{provider}',
      '/api/v1/auth/refresh',
      '/api/v1/auth/logout',
      '/api/v1/users/me',
      '/api/v1/users/me/history',
      '/api/v1/users/me/history/{jobId}',
    ]) {
      expect(doc.paths[path]).toBeDefined();
    }
    expect(doc.paths['/api/v1/users/me'].get.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/api/v1/auth/logout'].post.security).toEqual([{ bearer: [] }]);
  });

  it('access tokens are HS256 JWTs with sub, typ, jti, fam, iat, exp', async () => {
    const login = await guestLogin(app.url!);
    const [header, payload] = login.accessToken
      .split('.')
      .slice(0, 2)
      .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>);
    expect(header.alg).toBe('HS256');
    expect(payload).toMatchObject({ sub: login.user.id, typ: 'access' });
    expect(payload.exp as number).toBe((payload.iat as number) + 900);
    expect(typeof payload.jti).toBe('string');
    expect(typeof payload.fam).toBe('string');
    // The refresh token is stored only as a hash.
    const rows = (await app.app
      .get(DataSource)
      .query(`SELECT token_hash FROM auth.refresh_tokens WHERE user_id = $1`, [login.user.id])) as {
      token_hash: string;
    }[];
    expect(rows).toHaveLength(1);
    expect(rows[0].token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0].token_hash).not.toContain(login.refreshToken);
  });

  it('rejects missing, malformed, alg:none, wrongly signed, wrong-type, expired and unknown-user tokens', async () => {
    const login = await guestLogin(app.url!);
    const sub = login.user.id;
    const [, payload] = login.accessToken.split('.');
    const cases: Record<string, string | undefined> = {
      missing: undefined,
      garbage: 'garbage',
      algNone: `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`,
      algNoneSigned: `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.${login.accessToken.split('.')[2]}`,
      wrongSecret: await forge({ sub }, { secret: 'another-secret-another-secret-0123456789' }),
      hs512: await forge({ sub }, { alg: 'HS512' }),
      tamperedPayload: [
        login.accessToken.split('.')[0],
        b64({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), sub: randomUUID() }),
        login.accessToken.split('.')[2],
      ].join('.'),
      refreshAsAccess: login.refreshToken,
      forgedRefreshType: await forge({ sub, typ: 'refresh' }),
      noType: await forge({ sub, typ: undefined }),
      expired: await forge({ sub }, { expiresIn: -5 }),
      unknownUser: await forge({ sub: randomUUID() }),
    };
    for (const [name, token] of Object.entries(cases)) {
      const res = await me(token);
      expect({ name, status: res.status, code: res.body.code }).toEqual({
        name,
        status: 401,
        code: 'UNAUTHORIZED',
      });
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
    // The control: a correctly forged token (we hold the secret) is accepted.
    expect((await me(await forge({ sub }))).status).toBe(200);
    // And an access token is not a refresh token.
    expect((await refresh(login.accessToken)).status).toBe(401);
  });

  it('refresh rotates: the new pair works, the old refresh token is spent', async () => {
    const login = await guestLogin(app.url!);
    const next = await refresh(login.refreshToken);
    expect(next.status).toBe(200);
    expect(next.body.user.id).toBe(login.user.id);
    expect(next.body.refreshToken).not.toBe(login.refreshToken);
    expect((await me(next.body.accessToken)).status).toBe(200);
    const third = await refresh(next.body.refreshToken);
    expect(third.status).toBe(200);
  });

  it('reuse of a spent refresh token revokes the whole login family', async () => {
    const login = await guestLogin(app.url!);
    const other = await refresh((await guestLogin(app.url!)).refreshToken); // an unrelated login
    const second = await refresh(login.refreshToken);
    expect(second.status).toBe(200);
    // The attacker (or a confused client) replays the spent token.
    const replay = await refresh(login.refreshToken);
    expect(replay.status).toBe(401);
    // Every token of that login is now dead: the rotated refresh token and its access token.
    expect((await refresh(second.body.refreshToken)).status).toBe(401);
    expect((await me(second.body.accessToken)).status).toBe(401);
    expect((await me(login.accessToken)).status).toBe(401);
    // The same user can log in again (a new family); other logins are untouched.
    expect((await me(other.body.accessToken)).status).toBe(200);
    const rows = (await app.app
      .get(DataSource)
      .query(
        `SELECT count(*)::int AS n FROM auth.refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL`,
        [login.user.id],
      )) as { n: number }[];
    expect(rows[0].n).toBe(0);
  });

  it('concurrent refreshes with one token: exactly one wins, the rest is reuse', async () => {
    const login = await guestLogin(app.url!);
    const results = await Promise.all(Array.from({ length: 6 }, () => refresh(login.refreshToken)));
    const winners = results.filter((r) => r.status === 200);
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => r.status === 401)).toHaveLength(5);
    // The losers were reuse, so the winner's new token was revoked with the family.
    expect((await refresh(winners[0].body.refreshToken)).status).toBe(401);
  });

  it('rejects forged, expired and unknown refresh tokens', async () => {
    const login = await guestLogin(app.url!);
    const forgedType = await forge({ sub: login.user.id, typ: 'refresh' });
    // Signed correctly, but never issued: the hash is unknown.
    expect((await refresh(forgedType)).status).toBe(401);
    expect(
      (await refresh(await forge({ sub: login.user.id, typ: 'refresh' }, { expiresIn: -5 })))
        .status,
    ).toBe(401);
    expect((await refresh('x'.repeat(40))).status).toBe(401);
    expect((await call('POST', `${api}/auth/refresh`, { body: {} })).status).toBe(400);
    // The real one still works afterwards (the failures above were not "reuse").
    expect((await refresh(login.refreshToken)).status).toBe(200);
  });

  it('logout revokes the login and makes the current access token fail at once', async () => {
    const login = await guestLogin(app.url!);
    const rotated = await refresh(login.refreshToken);
    // Other logins stay logged in.
    const other = await guestLogin(app.url!);
    expect((await me(rotated.body.accessToken)).status).toBe(200);
    const out = await call('POST', `${api}/auth/logout`, {
      token: rotated.body.accessToken,
      body: { refreshToken: rotated.body.refreshToken },
    });
    expect(out.status).toBe(204);
    expect((await me(rotated.body.accessToken)).status).toBe(401);
    expect((await refresh(rotated.body.refreshToken)).status).toBe(401);
    expect((await me(other.accessToken)).status).toBe(200);
    // Logging out needs a valid access token.
    const again = await call('POST', `${api}/auth/logout`, {
      token: rotated.body.accessToken,
      body: { refreshToken: rotated.body.refreshToken },
    });
    expect(again.status).toBe(401);
  });

  it("logout cannot revoke someone else's login", async () => {
    const victim = await guestLogin(app.url!);
    const attacker = await guestLogin(app.url!);
    const out = await call('POST', `${api}/auth/logout`, {
      token: attacker.accessToken,
      body: { refreshToken: victim.refreshToken },
    });
    expect(out.status).toBe(204);
    expect((await me(victim.accessToken)).status).toBe(200);
    expect((await refresh(victim.refreshToken)).status).toBe(200);
  });
});

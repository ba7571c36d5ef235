import { randomUUID } from 'node:crypto';
import { RunningApp } from '../../src/app/bootstrap';
import { HistoryService } from '../../src/modules/users/history.service';
import { bootRole } from '../support/app';
import { guestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { GoogleStandin } from '../support/standins/google.standin';
import { KakaoAuthStandin } from '../support/standins/kakao-auth.standin';
import { NaverStandin } from '../support/standins/naver.standin';
import { Tokens, call } from './http';

describe('login: guest, Kakao, Naver, Google (token, ID token, code)', () => {
  let iso: Isolation;
  let app: RunningApp;
  let api: string;
  let kakao: KakaoAuthStandin;
  let naver: NaverStandin;
  let google: GoogleStandin;

  beforeAll(async () => {
    [iso, kakao, naver, google] = await Promise.all([
      isolate('authlogin'),
      KakaoAuthStandin.start(),
      NaverStandin.start(),
      GoogleStandin.start(),
    ]);
    app = await bootRole(iso, {
      APP_ROLE: 'all',
      KAKAO_API_URL: kakao.url,
      KAKAO_AUTH_URL: kakao.url,
      KAKAO_CLIENT_ID: kakao.clientId,
      NAVER_API_URL: naver.url,
      NAVER_AUTH_URL: naver.url,
      NAVER_CLIENT_ID: naver.clientId,
      NAVER_CLIENT_SECRET: naver.clientSecret,
      // The first client id is the web client the backend exchanges codes as.
      GOOGLE_CLIENT_IDS: `${google.clientId},ios-client-id`,
      GOOGLE_CLIENT_SECRET: google.clientSecret,
      GOOGLE_JWKS_URL: google.jwksUrl,
      GOOGLE_TOKEN_URL: google.tokenUrl,
      THIRD_PARTY_TIMEOUT_MS: '400',
      RATE_LIMIT_LOGIN_PER_IP: '1000',
      RATE_LIMIT_LOGIN_PER_USER: '1000',
    });
    api = `${app.url}/api/v1`;
  });

  afterAll(async () => {
    await app?.close();
    await Promise.all([kakao?.close(), naver?.close(), google?.close()]);
    await iso?.cleanup();
  });

  const oauth = (provider: string, body: unknown, token?: string) =>
    call<Tokens>('POST', `${api}/auth/oauth/${provider}`, { body, token });
  const me = (token: string) => call<Tokens['user']>('GET', `${api}/users/me`, { token });

  it('POST /auth/guest creates a guest with a friendly nickname and working tokens', async () => {
    const res = await call<Tokens>('POST', `${api}/auth/guest`, { body: { deviceId: 'dev-1' } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ tokenType: 'Bearer', expiresIn: 900 });
    expect(res.body.user.nickname).toMatch(/^게스트-[0-9a-f]{4}$/);
    expect(res.body.user.providers).toEqual(['guest']);
    expect((await me(res.body.accessToken)).body.id).toBe(res.body.user.id);
    const other = await guestLogin(app.url!);
    expect(other.user.id).not.toBe(res.body.user.id);
  });

  it('Kakao SDK token: verified at /v2/user/me; the same person gets the same account', async () => {
    const person = { id: '9007199254740993', nickname: '카카오친구', email: 'k@example.com' };
    const first = await oauth('kakao', { accessToken: kakao.issueToken(person) });
    expect(first.status).toBe(200);
    expect(first.body.isNewUser).toBe(true);
    expect(first.body.user).toMatchObject({
      nickname: '카카오친구',
      email: 'k@example.com',
      providers: ['kakao'],
    });
    const second = await oauth('kakao', { accessToken: kakao.issueToken(person) });
    expect(second.status).toBe(200);
    expect(second.body.isNewUser).toBe(false);
    expect(second.body.user.id).toBe(first.body.user.id);
    // An id above 2^53 keeps every digit: 9007199254740993 must not become ...992.
    const neighbour = { id: '9007199254740992', nickname: '이웃' };
    const third = await oauth('kakao', { accessToken: kakao.issueToken(neighbour) });
    expect(third.body.user.id).not.toBe(first.body.user.id);
    expect(kakao.requests.filter((r) => r.path === '/v2/user/me').at(-1)?.auth).toMatch(
      /^Bearer kakao-at-/,
    );
  });

  it('simultaneous first logins of one person create one account', async () => {
    const person = { id: '31337', nickname: '동시' };
    const results = await Promise.all(
      Array.from({ length: 4 }, () => oauth('kakao', { accessToken: kakao.issueToken(person) })),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(new Set(results.map((r) => r.body.user.id)).size).toBe(1);
    expect(results.filter((r) => r.body.isNewUser)).toHaveLength(1);
  });

  it('Kakao: unknown or expired token → 401; Kakao down or slow → 503', async () => {
    const bad = await oauth('kakao', { accessToken: 'not-a-kakao-token' });
    expect(bad.status).toBe(401);
    expect(bad.body.code).toBe('UNAUTHORIZED');
    const token = kakao.issueToken({ id: '42', nickname: 'x' });
    kakao.expireToken(token);
    expect((await oauth('kakao', { accessToken: token })).status).toBe(401);

    kakao.failStatus = 500;
    const down = await oauth('kakao', {
      accessToken: kakao.issueToken({ id: '43', nickname: 'y' }),
    });
    kakao.failStatus = undefined;
    expect(down.status).toBe(503);
    expect(down.body.code).toBe('SERVICE_UNAVAILABLE');

    kakao.latencyMs = 1500;
    const started = Date.now();
    const slow = await oauth('kakao', {
      accessToken: kakao.issueToken({ id: '44', nickname: 'z' }),
    });
    kakao.latencyMs = 0;
    expect(slow.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(1400);
  });

  it('Kakao authorization code: exchanged at /oauth/token, then the profile is read', async () => {
    const redirectUri = 'https://app.example.com/oauth/kakao';
    const person = { id: '777', nickname: '코드로그인' };
    const code = kakao.issueCode(person, redirectUri);
    const res = await oauth('kakao', { code, redirectUri, codeVerifier: 'v'.repeat(43) });
    expect(res.status).toBe(200);
    expect(res.body.user.nickname).toBe('코드로그인');
    const exchange = kakao.requests.find((r) => r.path === '/oauth/token');
    expect(exchange?.form?.get('client_id')).toBe(kakao.clientId);
    expect(exchange?.form?.get('code_verifier')).toBe('v'.repeat(43));
    // Codes are single-use; a wrong redirect URI is refused too.
    expect((await oauth('kakao', { code, redirectUri })).status).toBe(401);
    const code2 = kakao.issueCode(person, redirectUri);
    expect(
      (await oauth('kakao', { code: code2, redirectUri: 'https://evil.example/cb' })).status,
    ).toBe(401);
  });

  it('Naver SDK token and authorization code (token errors arrive as HTTP 200)', async () => {
    const person = { id: 'naver-abc', nickname: '네이버', email: 'n@example.com' };
    const byToken = await oauth('naver', { accessToken: naver.issueToken(person) });
    expect(byToken.status).toBe(200);
    expect(byToken.body.user).toMatchObject({ nickname: '네이버', providers: ['naver'] });

    const code = naver.issueCode(person, 'state-1');
    const byCode = await oauth('naver', {
      code,
      state: 'state-1',
      redirectUri: 'https://app.example.com/naver',
    });
    expect(byCode.status).toBe(200);
    expect(byCode.body.user.id).toBe(byToken.body.user.id);
    expect(
      naver.requests.find((r) => r.path === '/oauth2.0/token')?.params.get('client_secret'),
    ).toBe(naver.clientSecret);

    expect((await oauth('naver', { code, state: 'state-1' })).status).toBe(401);
    expect((await oauth('naver', { accessToken: 'bogus' })).status).toBe(401);
    const expired = naver.issueToken(person);
    naver.expireToken(expired);
    expect((await oauth('naver', { accessToken: expired })).status).toBe(401);
  });

  it('Google: the JWKS being down is 503, not 401', async () => {
    google.failStatus = 503;
    const res = await oauth('google', { idToken: await google.mintIdToken({ sub: 'g-down' }) });
    google.failStatus = undefined;
    expect(res.status).toBe(503);
  });

  it('Google ID token: signature, issuer, audience and expiry are checked; sub is the key', async () => {
    const person = { sub: 'g-123', email: 'g@example.com', name: 'Google 사용자' };
    const ok = await oauth('google', { idToken: await google.mintIdToken(person) });
    expect(ok.status).toBe(200);
    expect(ok.body.user).toMatchObject({ email: 'g@example.com', providers: ['google'] });
    // Email changes; sub does not: still the same account.
    const again = await oauth('google', {
      idToken: await google.mintIdToken({ ...person, email: 'new@example.com' }),
    });
    expect(again.body.user.id).toBe(ok.body.user.id);
    // The issuer without scheme is accepted too, as is any configured audience.
    const bare = await oauth('google', {
      idToken: await google.mintIdToken(person, {
        iss: 'accounts.google.com',
        aud: 'ios-client-id',
      }),
    });
    expect(bare.status).toBe(200);

    const rejected = await Promise.all([
      google.mintIdToken(person, { aud: 'someone-elses-app' }),
      google.mintIdToken(person, { iss: 'https://evil.example.com' }),
      google.mintIdToken(person, { expiresIn: -60 }),
      google.mintIdToken(person, { foreignKey: true }),
      google.mintIdToken(person, { foreignKey: true, kid: 'unknown-kid' }),
    ]);
    const tampered = (await google.mintIdToken(person)).split('.');
    const payload = JSON.parse(Buffer.from(tampered[1], 'base64url').toString());
    tampered[1] = Buffer.from(JSON.stringify({ ...payload, sub: 'g-999' })).toString('base64url');
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    for (const idToken of [
      ...rejected,
      tampered.join('.'),
      `${header}.${tampered[1]}.`,
      'not.a.jwt',
    ]) {
      const res = await oauth('google', { idToken });
      expect({ idToken: idToken.slice(0, 20), status: res.status }).toEqual({
        idToken: idToken.slice(0, 20),
        status: 401,
      });
    }
  });

  it('Google authorization code: the token endpoint’s id_token is verified like any other', async () => {
    const redirectUri = 'https://app.example.com/google';
    const code = google.issueCode({ sub: 'g-code', name: '코드' }, redirectUri);
    const res = await oauth('google', { code, redirectUri });
    expect(res.status).toBe(200);
    expect(res.body.user.nickname).toBe('코드');
    expect((await oauth('google', { code, redirectUri })).status).toBe(401);
  });

  it('rejects malformed requests: unknown provider, no or two credential forms, unknown fields', async () => {
    expect((await oauth('facebook', { accessToken: 'x' })).body.code).toBe('VALIDATION_FAILED');
    expect((await oauth('kakao', {})).body.code).toBe('VALIDATION_FAILED');
    expect((await oauth('kakao', { accessToken: 'a', code: 'b' })).status).toBe(400);
    expect((await oauth('google', { accessToken: 'a' })).status).toBe(400);
    expect((await oauth('kakao', { accessToken: 'a', admin: true })).status).toBe(400);
    expect((await call('POST', `${api}/auth/guest`, { body: { role: 'admin' } })).status).toBe(400);
  });

  it('a guest who logs in keeps their history (upgrade in place)', async () => {
    const guest = await guestLogin(app.url!);
    const history = app.app.get(HistoryService);
    const jobId = randomUUID();
    await history.recordAnalysis({
      userId: guest.user.id,
      jobId,
      createdAt: new Date(),
      status: 'completed',
      items: [{ label: 'bottle', categoryId: 'pet', categoryName: '투명 페트병' }],
      job: { jobId, status: 'completed' },
    });
    const res = await oauth(
      'kakao',
      { accessToken: kakao.issueToken({ id: '5001', nickname: '업그레이드' }) },
      guest.accessToken,
    );
    expect(res.status).toBe(200);
    expect(res.body.user.id).toBe(guest.user.id);
    expect(res.body.user.providers).toEqual(['kakao']);
    const list = await call<{ items: { jobId: string }[] }>('GET', `${api}/users/me/history`, {
      token: res.body.accessToken,
    });
    expect(list.body.items.map((i) => i.jobId)).toEqual([jobId]);
    // Logging in again without the guest token lands in the same (now Kakao) account.
    const again = await oauth('kakao', {
      accessToken: kakao.issueToken({ id: '5001', nickname: '업그레이드' }),
    });
    expect(again.body.user.id).toBe(guest.user.id);
  });

  it('a guest logging into an existing account brings their history; the guest is retired', async () => {
    const person = { sub: 'g-existing', name: '기존' };
    const owner = await oauth('google', { idToken: await google.mintIdToken(person) });
    const guest = await guestLogin(app.url!);
    const jobId = randomUUID();
    await app.app.get(HistoryService).recordAnalysis({
      userId: guest.user.id,
      jobId,
      createdAt: new Date(),
      status: 'completed',
      items: [],
      job: { jobId },
    });
    const res = await oauth(
      'google',
      { idToken: await google.mintIdToken(person) },
      guest.accessToken,
    );
    expect(res.status).toBe(200);
    expect(res.body.user.id).toBe(owner.body.user.id);
    const detail = await call('GET', `${api}/users/me/history/${jobId}`, {
      token: res.body.accessToken,
    });
    expect(detail.status).toBe(200);
    expect((await me(guest.accessToken)).status).toBe(401);
    const refresh = await call('POST', `${api}/auth/refresh`, {
      body: { refreshToken: guest.refreshToken },
    });
    expect(refresh.status).toBe(401);
  });

  it('an invalid bearer token on an OAuth login is refused rather than silently ignored', async () => {
    const res = await oauth(
      'kakao',
      { accessToken: kakao.issueToken({ id: '6001', nickname: 'x' }) },
      'garbage',
    );
    expect(res.status).toBe(401);
  });
});

import { RunningApp } from '../../src/app/bootstrap';
import { bootRole } from '../support/app';
import { bearer, guestLogin, TestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';

/**
 * Request shapes that used to stall the API or answer 500 (docs/auth.md → Request limits): every
 * one is a small problem document now, refused before validation, and never quotes the body.
 */
describe('request limits: JSON depth, members, size, content type, control characters', () => {
  let iso: Isolation;
  let app: RunningApp;
  let login: TestLogin;
  const MARKER = 'zq-marker-7f3a';

  beforeAll(async () => {
    iso = await isolate('reqlimits');
    app = await bootRole(iso, { APP_ROLE: 'all', RATE_LIMIT_LOGIN_PER_IP: '0' });
    login = await guestLogin(app.url!);
  });
  afterAll(async () => {
    await app?.close();
    await iso?.cleanup();
  });

  async function send(
    method: string,
    path: string,
    body: string | undefined,
    headers: Record<string, string> = { 'content-type': 'application/json' },
  ) {
    const res = await fetch(`${app.url}/api/v1${path}`, {
      method,
      headers: { ...bearer(login), ...headers },
      body,
    });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type') ?? '', text };
  }

  function expectProblem(
    r: { status: number; type: string; text: string },
    status: number,
    code: string,
  ) {
    expect(r.status).toBe(status);
    expect(r.type).toMatch(/^application\/problem\+json/);
    expect((JSON.parse(r.text) as { code: string }).code).toBe(code);
    expect(r.text).not.toContain(MARKER);
  }

  const jsonEndpoints: [string, string][] = [
    ['POST', '/auth/guest'],
    ['POST', '/auth/refresh'],
    ['POST', '/auth/logout'],
    ['POST', '/auth/oauth/kakao'],
    ['PATCH', '/users/me'],
    ['POST', '/waste/analyze'],
    ['POST', '/waste/jobs/00000000-0000-4000-8000-000000000000/correction'],
    ['POST', '/recycling/feedback'],
  ];

  it('a 240 KB body nested 120,000 deep is a 400 on every JSON endpoint, not a 500', async () => {
    const deep = '['.repeat(120_000) + ']'.repeat(120_000);
    for (const [method, path] of jsonEndpoints) {
      const r = await send(method, path, deep);
      expectProblem(r, 400, 'VALIDATION_FAILED');
      expect(r.text).toContain('nests more than 32 levels');
    }
    // Just past the limit is refused; at the limit the body reaches validation as usual.
    expectProblem(
      await send('POST', '/auth/guest', `{"a":${'['.repeat(32)}${']'.repeat(32)}}`),
      400,
      'VALIDATION_FAILED',
    );
    const atLimit = await send('POST', '/auth/guest', `{"a":${'['.repeat(31)}${']'.repeat(31)}}`);
    expect(atLimit.text).toContain('a is not allowed');
  });

  it('a flat object with 19,000 keys is refused by count with a small answer', async () => {
    const wide = JSON.stringify(
      Object.fromEntries([[MARKER, 1], ...Array.from({ length: 19_000 }, (_, i) => [`k${i}`, 1])]),
    );
    const r = await send('POST', '/auth/guest', wide);
    expectProblem(r, 400, 'VALIDATION_FAILED');
    expect(r.text).toContain('an object with more than 64 keys');
    expect(r.text.length).toBeLessThan(1000);
  });

  it('an array of 3,000 elements is refused by the member count', async () => {
    const r = await send('POST', '/auth/guest', JSON.stringify({ ids: Array(3000).fill(1) }));
    expectProblem(r, 400, 'VALIDATION_FAILED');
    expect(r.text).toContain('more than 2048 keys and array elements');
  });

  it('under the key limit, at most 20 field errors are reported', async () => {
    const wide = JSON.stringify(
      Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, 1])),
    );
    const r = await send('POST', '/auth/guest', wide);
    expectProblem(r, 400, 'VALIDATION_FAILED');
    const errors = (JSON.parse(r.text) as { errors: { field: string; message: string }[] }).errors;
    expect(errors).toHaveLength(21);
    expect(errors[20]).toEqual({ field: '*', message: '40 more errors not shown' });
    expect(r.text.length).toBeLessThan(4000);
  });

  it('a body over BODY_MAX_BYTES is a 413 problem', async () => {
    const big = JSON.stringify({ deviceId: MARKER + 'a'.repeat(300 * 1024) });
    expectProblem(await send('POST', '/auth/guest', big), 413, 'PAYLOAD_TOO_LARGE');
  });

  it('a body that is not JSON is a 415; malformed JSON is a 400 that does not quote the body', async () => {
    expectProblem(
      await send('POST', '/auth/guest', `deviceId=${MARKER}`, {
        'content-type': 'application/x-www-form-urlencoded',
      }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    expectProblem(
      await send('POST', '/auth/guest', MARKER, { 'content-type': 'text/plain' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    expectProblem(await send('POST', '/auth/guest', '{}', {}), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectProblem(
      await send('POST', '/auth/guest', '{}', {
        'content-type': 'application/json; charset=latin1',
      }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    for (const bad of [`{"deviceId": "${MARKER}`, `{"deviceId": ${MARKER}}`, `{"a":1}${MARKER}`]) {
      const r = await send('POST', '/auth/guest', bad);
      expectProblem(r, 400, 'VALIDATION_FAILED');
      expect(r.text).toContain('is not valid JSON');
    }
    // application/*+json is JSON too.
    expect(
      (await send('POST', '/auth/guest', '{}', { 'content-type': 'application/merge-patch+json' }))
        .status,
    ).toBe(201);
  });

  it('feedback {"items":[[]]} and a correction with a nested array are 400', async () => {
    expectProblem(
      await send('POST', '/recycling/feedback', '{"items":[[]]}'),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await send(
        'POST',
        '/waste/jobs/00000000-0000-4000-8000-000000000000/correction',
        '{"items":[[]]}',
      ),
      400,
      'VALIDATION_FAILED',
    );
    expect((await send('POST', '/recycling/feedback', '{"items":[]}')).status).toBe(200);
  });

  it('control characters (NUL included) in body, query and path are a 400, not a 500', async () => {
    const bodies: [string, string, string][] = [
      ['PATCH', '/users/me', '{"nickname":"a\\u0000b"}'],
      ['PATCH', '/users/me', '{"nickname":"a\\u001Bb"}'],
      ['PATCH', '/users/me', '{"nickname":"a\\u007fb"}'],
      ['PATCH', '/users/me', '{"nickname":"a\\u0085b"}'],
      // Raw DEL and C1 bytes are valid JSON text, so the scan itself must refuse them.
      ['PATCH', '/users/me', '{"nickname":"a\u007fb"}'],
      ['PATCH', '/users/me', '{"nickname":"a\u009bb"}'],
      [
        'POST',
        '/waste/analyze',
        '{"contentType":"image/jpeg","contentLength":1000,"hint":"\\u0000"}',
      ],
      ['POST', '/auth/guest', '{"a\\u0000":1}'],
      ['POST', '/recycling/feedback', '{"items":[],"hint":"x\\u0000"}'],
    ];
    for (const [method, path, body] of bodies) {
      const r = await send(method, path, body);
      expectProblem(r, 400, 'VALIDATION_FAILED');
      expect(r.text).toContain('control characters');
    }
    // A raw control byte is not JSON at all.
    expectProblem(
      await send('PATCH', '/users/me', '{"nickname":"a\u0001b"}'),
      400,
      'VALIDATION_FAILED',
    );
    for (const path of [
      '/locations/search?q=%00',
      '/recycling/search?q=a%1fb',
      '/waste/status/%00',
      '/recycling/categories/clear-pet%7F',
      '/users/me/history?cursor=%00',
    ]) {
      const r = await send('GET', path, undefined, {});
      expectProblem(r, 400, 'VALIDATION_FAILED');
    }
    // Newlines and tabs are text, not control characters.
    const ok = await send('POST', '/recycling/feedback', '{"items":[],"hint":"line\\none\\ttab"}');
    expect(ok.status).toBe(200);
    // The nickname is still what it was.
    const me = JSON.parse((await send('GET', '/users/me', undefined, {})).text) as {
      nickname: string;
    };
    expect(me.nickname).toMatch(/^게스트-/);
  });

  it('rate limits are counted before the body is validated', async () => {
    const limited = await bootRole(iso, { APP_ROLE: 'api', RATE_LIMIT_LOGIN_PER_IP: '2' });
    try {
      const post = (body: string) =>
        fetch(`${limited.url}/api/v1/auth/guest`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
      const wide = JSON.stringify(
        Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, 1])),
      );
      expect((await post(wide)).status).toBe(400);
      expect((await post(wide)).status).toBe(400);
      // The third request of the window is refused by the limiter, whatever its body.
      const r = await post(wide);
      expect(r.status).toBe(429);
      expect(((await r.json()) as { code: string }).code).toBe('RATE_LIMITED');
      // TRUSTED_PROXY_HOPS defaults to 0: a client-written X-Forwarded-For buys no fresh bucket.
      for (const xff of ['198.51.100.7', '198.51.100.8, 203.0.113.9', '10.0.0.1']) {
        const spoofed = await fetch(`${limited.url}/api/v1/auth/guest`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-forwarded-for': xff },
          body: '{}',
        });
        expect(spoofed.status).toBe(429);
      }
    } finally {
      await limited.close();
    }
  });
});

import { RunningApp } from '../../src/app/bootstrap';
import { bootRole } from '../support/app';
import { bearer, guestLogin, TestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { makePhoto } from '../support/photos';
import { JobBody, getJob, submitPhoto, waitForEnd } from '../support/waste-client';

/** Reads an SSE stream until it ends (or `limit` events), returning the parsed events and comments. */
async function readSse(url: string, headers: Record<string, string>, limitMs = 10_000) {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(limitMs) });
  const events: { id?: string; event?: string; data?: JobBody }[] = [];
  let comments = 0;
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let idx: number;
    while ((idx = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, idx);
      buffer = buffer.slice(idx + 2);
      const e: { id?: string; event?: string; data?: JobBody } = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) comments++;
        else if (line.startsWith('id: ')) e.id = line.slice(4);
        else if (line.startsWith('event: ')) e.event = line.slice(7);
        else if (line.startsWith('data: ')) e.data = JSON.parse(line.slice(6)) as JobBody;
      }
      if (e.event) events.push(e);
    }
  }
  return { status: res.status, contentType: res.headers.get('content-type'), events, comments };
}

describe('waste API contract (VISION_PROVIDER=none: hints only)', () => {
  let iso: Isolation;
  let app: RunningApp;
  let base: string;
  let alice: TestLogin;
  let bob: TestLogin;

  beforeAll(async () => {
    iso = await isolate('wasteapi');
    app = await bootRole(iso, {
      APP_ROLE: 'all',
      VISION_PROVIDER: 'none',
      RATE_LIMIT_LOGIN_PER_IP: '0',
      LOCATIONS_SAMPLE_DATA: 'true',
      SSE_HEARTBEAT_MS: '200',
      MAX_UPLOAD_BYTES: '2000000',
    });
    base = app.url!;
    alice = await guestLogin(base);
    bob = await guestLogin(base);
  });
  afterAll(async () => {
    await app?.close();
    await iso?.cleanup();
  });

  const post = (
    path: string,
    body: unknown,
    who: TestLogin = alice,
    headers: Record<string, string> = {},
  ) =>
    fetch(`${base}/api/v1${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(who), ...headers },
      body: JSON.stringify(body),
    });

  it('analyze answers the contract: job, presigned upload, status and events URLs', async () => {
    const res = await post('/waste/analyze', {
      contentType: 'image/jpeg',
      contentLength: 1234,
      hint: '페트병',
      locale: 'ko',
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as Record<string, unknown> & {
      upload: Record<string, unknown>;
    };
    expect(body).toMatchObject({
      jobId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      status: 'awaiting_upload',
      upload: {
        method: 'PUT',
        url: expect.any(String),
        headers: { 'Content-Type': 'image/jpeg' },
        expiresAt: expect.any(String),
      },
      statusUrl: expect.stringContaining(`/api/v1/waste/status/${String(body.jobId)}`),
      eventsUrl: expect.stringContaining(`/api/v1/waste/jobs/${String(body.jobId)}/events`),
    });
    expect(new Date(String(body.upload.expiresAt)).getTime()).toBeGreaterThan(Date.now());
    const job = await getJob(base, alice.accessToken, String(body.jobId));
    expect(job).toMatchObject({
      status: 'awaiting_upload',
      progress: 0,
      result: null,
      error: null,
    });
  });

  it.each([
    [{ contentType: 'image/gif', contentLength: 10 }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    [{ contentType: 'image/jpeg', contentLength: 2_000_001 }, 413, 'PAYLOAD_TOO_LARGE'],
    [{ contentType: 'image/jpeg', contentLength: 10, extra: 1 }, 400, 'VALIDATION_FAILED'],
    [{ contentType: 'image/jpeg', contentLength: -5 }, 400, 'VALIDATION_FAILED'],
    [{ contentType: 'image/jpeg', contentLength: '10' }, 400, 'VALIDATION_FAILED'],
    [{ contentType: 'image/jpeg', contentLength: 10, lat: 95, lng: 10 }, 400, 'VALIDATION_FAILED'],
    [{ contentType: 'image/jpeg', contentLength: 10, lat: 37.5 }, 400, 'VALIDATION_FAILED'],
    [
      { contentType: 'image/jpeg', contentLength: 10, hint: 'x'.repeat(201) },
      400,
      'VALIDATION_FAILED',
    ],
    [{ contentType: 'image/jpeg', contentLength: 10, locale: 'fr' }, 400, 'VALIDATION_FAILED'],
  ])('analyze %j → %i %s', async (body, status, code) => {
    const res = await post('/waste/analyze', body);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/problem\+json/);
    expect(((await res.json()) as { code: string }).code).toBe(code);
  });

  it('the same Idempotency-Key returns the same job; another user or key does not', async () => {
    const body = { contentType: 'image/jpeg', contentLength: 100 };
    const [a, b] = await Promise.all([
      post('/waste/analyze', body, alice, { 'Idempotency-Key': 'k-1' }),
      post('/waste/analyze', body, alice, { 'Idempotency-Key': 'k-1' }),
    ]);
    const ja = ((await a.json()) as { jobId: string }).jobId;
    const jb = ((await b.json()) as { jobId: string }).jobId;
    expect(ja).toBe(jb);
    const other = await post('/waste/analyze', body, bob, { 'Idempotency-Key': 'k-1' });
    expect(((await other.json()) as { jobId: string }).jobId).not.toBe(ja);
    const fresh = await post('/waste/analyze', body, alice, { 'Idempotency-Key': 'k-2' });
    expect(((await fresh.json()) as { jobId: string }).jobId).not.toBe(ja);
  });

  it('upload-complete: 409 before the upload, 202 queued after, the same answer when repeated', async () => {
    const photo = await makePhoto(100);
    const res = await post('/waste/analyze', {
      contentType: 'image/jpeg',
      contentLength: photo.length,
      hint: '우유팩',
    });
    const { jobId, upload } = (await res.json()) as {
      jobId: string;
      upload: { url: string; headers: Record<string, string> };
    };
    const early = await post(`/waste/upload-complete/${jobId}`, {});
    expect(early.status).toBe(409);
    expect(((await early.json()) as { code: string }).code).toBe('UPLOAD_MISSING');
    const u = new URL(upload.url);
    // The signed link is bound to type and size.
    const wrongType = await fetch(`${base}${u.pathname}${u.search}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'image/png' },
      body: photo,
    });
    expect(wrongType.status).toBe(415);
    const tampered = await fetch(
      `${base}${u.pathname}${u.search.replace(/len=\d+/, 'len=99999999')}`,
      {
        method: 'PUT',
        headers: upload.headers,
        body: photo,
      },
    );
    expect(tampered.status).toBe(403);
    const put = await fetch(`${base}${u.pathname}${u.search}`, {
      method: 'PUT',
      headers: upload.headers,
      body: photo,
    });
    expect(put.status).toBe(200);
    const first = await post(`/waste/upload-complete/${jobId}`, {});
    expect(first.status).toBe(202);
    expect(((await first.json()) as JobBody).status).toBe('queued');
    const job = await waitForEnd(base, alice.accessToken, jobId);
    expect(job.status).toBe('completed');
    expect(job.result!.items[0].category.id).toBe('paper-pack');
    const again = await post(`/waste/upload-complete/${jobId}`, {});
    expect(again.status).toBe(202);
    expect(((await again.json()) as JobBody).status).toBe('completed');
  });

  it('an upload whose size differs from the declared one is refused', async () => {
    const photo = await makePhoto(101);
    const res = await post('/waste/analyze', {
      contentType: 'image/jpeg',
      contentLength: photo.length + 10,
    });
    const { upload } = (await res.json()) as {
      upload: { url: string; headers: Record<string, string> };
    };
    const u = new URL(upload.url);
    const put = await fetch(`${base}${u.pathname}${u.search}`, {
      method: 'PUT',
      headers: upload.headers,
      body: photo,
    });
    expect(put.status).toBe(400);
    expect(((await put.json()) as { code: string }).code).toBe('UPLOAD_MISMATCH');
  });

  it('without vision and without a usable hint the job fails VISION_NOT_CONFIGURED', async () => {
    const { jobId } = await submitPhoto(base, alice.accessToken, await makePhoto(102));
    const job = await waitForEnd(base, alice.accessToken, jobId);
    expect(job.status).toBe('failed');
    expect(job.error).toEqual({ code: 'VISION_NOT_CONFIGURED', message: expect.any(String) });
  });

  it('with lat/lng the result carries nearby drop-off points for the detected category', async () => {
    // The sample data (loaded at boot) has points around Seoul City Hall.
    const { jobId } = await submitPhoto(base, alice.accessToken, await makePhoto(103), {
      hint: '건전지',
      lat: 37.5665,
      lng: 126.978,
    });
    const job = await waitForEnd(base, alice.accessToken, jobId);
    expect(job.status).toBe('completed');
    expect(job.result!.items[0].category.id).toBe('battery');
    expect(job.result!.nearby!.length).toBeGreaterThan(0);
    for (const p of job.result!.nearby as { types: string[]; distanceM: number }[]) {
      expect(p.types).toContain('battery');
      expect(p.distanceM).toBeLessThanOrEqual(3000);
    }
  });

  it('SSE: progress events up to completed, ids increase, Last-Event-ID resumes, heartbeats flow', async () => {
    const photo = await makePhoto(104);
    const res = await post('/waste/analyze', {
      contentType: 'image/jpeg',
      contentLength: photo.length,
      hint: '캔',
    });
    const { jobId, upload } = (await res.json()) as {
      jobId: string;
      upload: { url: string; headers: Record<string, string> };
    };
    const stream = readSse(`${base}/api/v1/waste/jobs/${jobId}/events`, bearer(alice));
    await new Promise((r) => setTimeout(r, 450)); // let a heartbeat or two pass while waiting for the upload
    const u = new URL(upload.url);
    await fetch(`${base}${u.pathname}${u.search}`, {
      method: 'PUT',
      headers: upload.headers,
      body: photo,
    });
    await post(`/waste/upload-complete/${jobId}`, {});
    const sse = await stream;
    expect(sse.status).toBe(200);
    expect(sse.contentType).toMatch(/^text\/event-stream/);
    expect(sse.comments).toBeGreaterThanOrEqual(1);
    const last = sse.events[sse.events.length - 1];
    expect(last.event).toBe('completed');
    expect(last.data!.status).toBe('completed');
    expect(sse.events.slice(0, -1).every((e) => e.event === 'progress')).toBe(true);
    const ids = sse.events.map((e) => Number(e.id));
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    // Guidance is visible before coaching: some progress event has items but no coaching yet.
    expect(
      sse.events.some((e) => e.data!.result?.items.length && e.data!.result.coaching === null),
    ).toBe(true);
    // Reconnecting to a finished job with an older id: the final state, then the end.
    const resumed = await readSse(
      `${base}/api/v1/waste/jobs/${jobId}/events`,
      { ...bearer(alice), 'Last-Event-ID': String(ids[0]) },
      2000,
    );
    expect(resumed.events).toHaveLength(1);
    expect(resumed.events[0].event).toBe('completed');
  });

  it('correction stores the new categories with their guidance and coaching', async () => {
    const { jobId } = await submitPhoto(base, alice.accessToken, await makePhoto(105), {
      hint: '페트병',
    });
    await waitForEnd(base, alice.accessToken, jobId);
    const bad = await post(`/waste/jobs/${jobId}/correction`, {
      items: [{ index: 5, categoryId: 'nope' }],
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: unknown[] }).errors).toHaveLength(2);
    const res = await post(`/waste/jobs/${jobId}/correction`, {
      items: [{ index: 0, categoryId: 'plastic' }],
    });
    expect(res.status).toBe(200);
    const job = (await res.json()) as JobBody;
    expect(job.result!.items[0].category.id).toBe('plastic');
    expect(job.result!.coaching!.message.length).toBeGreaterThan(0);
    expect((await getJob(base, alice.accessToken, jobId)).result!.items[0].category.id).toBe(
      'plastic',
    );
    const hist = await fetch(`${base}/api/v1/users/me/history/${jobId}`, {
      headers: bearer(alice),
    });
    expect(((await hist.json()) as JobBody).result!.items[0].category.id).toBe('plastic');
  });

  it("another user's job is 404 on every endpoint, whatever the id", async () => {
    const { jobId } = await submitPhoto(base, alice.accessToken, await makePhoto(106), {
      hint: '유리병',
    });
    await waitForEnd(base, alice.accessToken, jobId);
    for (const id of [jobId, '00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const calls = [
        fetch(`${base}/api/v1/waste/status/${id}`, { headers: bearer(bob) }),
        post(`/waste/upload-complete/${id}`, {}, bob),
        post(`/waste/jobs/${id}/correction`, { items: [{ index: 0, categoryId: 'paper' }] }, bob),
        fetch(`${base}/api/v1/waste/jobs/${id}/events`, { headers: bearer(bob) }),
      ];
      for (const res of await Promise.all(calls)) {
        expect(res.status).toBe(404);
        expect(((await res.json()) as { code: string }).code).toBe('NOT_FOUND');
      }
    }
    // Without a token: 401.
    expect((await fetch(`${base}/api/v1/waste/status/${jobId}`)).status).toBe(401);
  });
});

import { readdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { RunningApp } from '../../src/app/bootstrap';
import { waitFor } from '../support/amqp';
import { bootRole } from '../support/app';
import { bearer, guestLogin, TestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';

/** Held connections are bounded (docs/auth.md → Held connections). */
describe('held connections: event-stream caps, logout closes streams, slow bodies time out', () => {
  let iso: Isolation;
  let app: RunningApp;
  let base: string;
  const open: AbortController[] = [];

  beforeAll(async () => {
    iso = await isolate('heldconns');
    app = await bootRole(iso, {
      APP_ROLE: 'all',
      VISION_PROVIDER: 'none',
      RATE_LIMIT_LOGIN_PER_IP: '0',
      SSE_MAX_STREAMS_PER_USER: '3',
      SSE_MAX_STREAMS_PER_JOB: '2',
      SSE_HEARTBEAT_MS: '200',
      HTTP_REQUEST_TIMEOUT_MS: '1500',
    });
    base = app.url!;
  });
  afterAll(async () => {
    for (const c of open) c.abort();
    await app?.close();
    await iso?.cleanup();
  });

  async function newJob(who: TestLogin): Promise<{ jobId: string; uploadUrl: string }> {
    const res = await fetch(`${base}/api/v1/waste/analyze`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(who) },
      body: JSON.stringify({ contentType: 'image/jpeg', contentLength: 5000 }),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { jobId: string; upload: { url: string } };
    const u = new URL(body.upload.url);
    return { jobId: body.jobId, uploadUrl: `${base}${u.pathname}${u.search}` };
  }

  /** Opens a stream; resolves with the response once headers arrive, plus when it ends. */
  async function stream(who: TestLogin, jobId: string) {
    const controller = new AbortController();
    open.push(controller);
    const res = await fetch(`${base}/api/v1/waste/jobs/${jobId}/events`, {
      headers: bearer(who),
      signal: controller.signal,
    });
    let ended = false;
    const done =
      res.status === 200
        ? (async () => {
            try {
              for await (const _ of res.body as unknown as AsyncIterable<Uint8Array>) void _;
            } catch {
              /* aborted by the test */
            }
            ended = true;
          })()
        : Promise.resolve();
    return { res, controller, done, ended: () => ended };
  }

  it('caps streams per job and per user with a 429 problem; a closed stream frees its slot', async () => {
    const alice = await guestLogin(base);
    const { jobId } = await newJob(alice);
    const a = await stream(alice, jobId);
    const b = await stream(alice, jobId);
    expect([a.res.status, b.res.status]).toEqual([200, 200]);
    const c = await stream(alice, jobId);
    expect(c.res.status).toBe(429);
    expect(c.res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await c.res.json()) as { code: string }).code).toBe('TOO_MANY_STREAMS');
    // Another user's streams on their own job are unaffected.
    const bob = await guestLogin(base);
    const bobs = await stream(bob, (await newJob(bob)).jobId);
    expect(bobs.res.status).toBe(200);
    // Per user: a third stream on another job is fine, a fourth is not.
    const other = await newJob(alice);
    expect((await stream(alice, other.jobId)).res.status).toBe(200);
    const fourth = await stream(alice, other.jobId);
    expect(fourth.res.status).toBe(429);
    expect(((await fourth.res.json()) as { detail: string }).detail).toContain('per user');
    // Closing one frees its slot (the server notices the closed socket).
    a.controller.abort();
    await waitFor('a freed stream slot', async () => {
      const again = await stream(alice, jobId);
      if (again.res.status === 200) return true;
      await again.res.arrayBuffer();
      return undefined;
    });
  });

  it('logout closes the streams of that login at once, and only those', async () => {
    const carol = await guestLogin(base);
    const { jobId } = await newJob(carol);
    const s = await stream(carol, jobId);
    expect(s.res.status).toBe(200);
    const dave = await guestLogin(base);
    const d = await stream(dave, (await newJob(dave)).jobId);
    const res = await fetch(`${base}/api/v1/auth/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(carol) },
      body: JSON.stringify({ refreshToken: carol.refreshToken }),
    });
    expect(res.status).toBe(204);
    await s.done; // the server ended the stream
    expect(s.ended()).toBe(true);
    expect(d.ended()).toBe(false);
  });

  it('an upload trickling past HTTP_REQUEST_TIMEOUT_MS is cut off with a 408, leaves no temp file or directory, and frees the link', async () => {
    const erin = await guestLogin(base);
    const { jobId, uploadUrl } = await newJob(erin);
    const u = new URL(uploadUrl);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(u.port), u.hostname, () => {
        socket.write(
          `PUT ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n` +
            `Content-Type: image/jpeg\r\nContent-Length: 5000\r\n\r\n`,
        );
        socket.write(Buffer.alloc(10, 0xff)); // then nothing more
      });
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(answer).toContain('REQUEST_TIMEOUT');
    // The temp file is gone and so are the per-job and per-user directories it was in.
    const dir = `${iso.env.STORAGE_LOCAL_DIR}/uploads`;
    await waitFor('the temp file and its directory to be removed', async () => {
      const files = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
      return files.some((f) => f.includes(erin.user.id)) ? undefined : true;
    });
    // The job still waits for its photo.
    const status = await fetch(`${base}/api/v1/waste/status/${jobId}`, { headers: bearer(erin) });
    expect(((await status.json()) as { status: string }).status).toBe('awaiting_upload');
    // The cut-off PUT released its claim on the link: a whole body now goes through.
    const retry = await fetch(uploadUrl, {
      method: 'PUT',
      headers: { 'content-type': 'image/jpeg' },
      body: Buffer.alloc(5000, 0xff),
    });
    expect(retry.status).toBe(200);
  });

  it('a JSON body trickling past the deadline is a 408 as well', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(base).port), '127.0.0.1', () => {
        socket.write(
          `POST /api/v1/auth/guest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
            `Content-Length: 100\r\n\r\n{"a":`,
        );
      });
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });
});

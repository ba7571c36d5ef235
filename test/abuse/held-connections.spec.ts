import { readdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { RunningApp } from '../../src/app/bootstrap';
import { waitFor } from '../support/amqp';
import { bootRole } from '../support/app';
import { bearer, guestLogin, TestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { makePhoto } from '../support/photos';
import { submitPhoto, waitForEnd } from '../support/waste-client';

/** Held connections are bounded (docs/auth.md → Held connections). */
describe('held connections: event-stream caps, logout and expiry close streams, slow bodies time out', () => {
  let iso: Isolation;
  let app: RunningApp;
  let base: string;
  const open: AbortController[] = [];
  let addresses = 0;

  beforeAll(async () => {
    iso = await isolate('heldconns');
    app = await bootRole(iso, {
      APP_ROLE: 'all',
      VISION_PROVIDER: 'none',
      RATE_LIMIT_LOGIN_PER_IP: '0',
      SSE_MAX_STREAMS_PER_USER: '3',
      SSE_MAX_STREAMS_PER_JOB: '2',
      SSE_MAX_STREAMS_PER_IP: '2',
      // Each stream below comes from its own X-Forwarded-For address unless a test says otherwise,
      // so only the per-address test meets the per-address cap.
      TRUSTED_PROXY_HOPS: '1',
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

  /**
   * Opens a stream; resolves with the response once headers arrive, plus `done`, which resolves
   * with the events read when the stream ends.
   */
  async function stream(
    who: TestLogin,
    jobId: string,
    opts: { ip?: string; lastEventId?: string; base?: string } = {},
  ) {
    const controller = new AbortController();
    open.push(controller);
    addresses++;
    const res = await fetch(`${opts.base ?? base}/api/v1/waste/jobs/${jobId}/events`, {
      headers: {
        ...bearer(who),
        'x-forwarded-for': opts.ip ?? `10.77.${addresses >> 8}.${addresses & 255}`,
        ...(opts.lastEventId !== undefined ? { 'last-event-id': opts.lastEventId } : {}),
      },
      signal: controller.signal,
    });
    let ended = false;
    const done: Promise<{ event: string; id: string; status: string }[]> =
      res.status === 200
        ? (async () => {
            let text = '';
            const decoder = new TextDecoder();
            try {
              for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
                text += decoder.decode(chunk, { stream: true });
            } catch {
              /* aborted by the test */
            }
            ended = true;
            return text
              .split('\n\n')
              .filter((block) => block.includes('event: '))
              .map((block) => {
                const field = (name: string) =>
                  block
                    .split('\n')
                    .find((l) => l.startsWith(`${name}: `))!
                    .slice(name.length + 2);
                return {
                  event: field('event'),
                  id: field('id'),
                  status: (JSON.parse(field('data')) as { status: string }).status,
                };
              });
          })()
        : Promise.resolve([]);
    return { res, controller, done, ended: () => ended };
  }

  it('caps streams per user with a 429 problem; a closed stream frees its slot', async () => {
    const alice = await guestLogin(base);
    const { jobId } = await newJob(alice);
    const a = await stream(alice, jobId);
    const b = await stream(alice, jobId);
    expect([a.res.status, b.res.status]).toEqual([200, 200]);
    // Another user's streams on their own job are unaffected.
    const bob = await guestLogin(base);
    const bobs = await stream(bob, (await newJob(bob)).jobId);
    expect(bobs.res.status).toBe(200);
    // Per user: a third stream on another job is fine, a fourth is not.
    const other = await newJob(alice);
    expect((await stream(alice, other.jobId)).res.status).toBe(200);
    const fourth = await stream(alice, other.jobId);
    expect(fourth.res.status).toBe(429);
    expect(fourth.res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = (await fourth.res.json()) as { code: string; detail: string };
    expect(problem.code).toBe('TOO_MANY_STREAMS');
    expect(problem.detail).toContain('per user');
    expect(a.ended()).toBe(false); // a refused stream closes nothing
    // Closing one frees its slot (the server notices the closed socket).
    a.controller.abort();
    await waitFor('a freed stream slot', async () => {
      const again = await stream(alice, other.jobId);
      if (again.res.status === 200) return true;
      await again.res.arrayBuffer();
      return undefined;
    });
  });

  it("a reconnect over the per-job cap closes the same user's oldest stream on that job", async () => {
    const fay = await guestLogin(base);
    const { jobId } = await newJob(fay);
    const first = await stream(fay, jobId);
    const second = await stream(fay, jobId);
    expect([first.res.status, second.res.status]).toEqual([200, 200]);
    // Half-open sockets the client gave up on must not lock it out of its own job.
    const third = await stream(fay, jobId);
    expect(third.res.status).toBe(200);
    await waitFor('the server ending the oldest stream', () => first.ended(), 30_000);
    expect(second.ended()).toBe(false);
    expect(third.ended()).toBe(false);
    const fourth = await stream(fay, jobId);
    expect(fourth.res.status).toBe(200);
    await second.done;
    expect(third.ended()).toBe(false);
    expect(fourth.ended()).toBe(false);
  });

  it('caps streams per client address across users (guests are free to create)', async () => {
    const ip = '203.0.113.50';
    const guests = await Promise.all([guestLogin(base), guestLogin(base), guestLogin(base)]);
    const jobs = await Promise.all(guests.map((g) => newJob(g)));
    const first = await stream(guests[0], jobs[0].jobId, { ip });
    const second = await stream(guests[1], jobs[1].jobId, { ip });
    expect([first.res.status, second.res.status]).toEqual([200, 200]);
    const third = await stream(guests[2], jobs[2].jobId, { ip });
    expect(third.res.status).toBe(429);
    expect(third.res.headers.get('retry-after')).toBe('5');
    const problem = (await third.res.json()) as { code: string; detail: string };
    expect(problem.code).toBe('TOO_MANY_STREAMS');
    expect(problem.detail).toContain('per IP address');
    // The same guest from another address is fine; the address's own streams stay open.
    expect((await stream(guests[2], jobs[2].jobId, { ip: '203.0.113.51' })).res.status).toBe(200);
    expect(first.ended() || second.ended()).toBe(false);
  });

  it('Last-Event-ID beyond the latest version, or garbage, still ends a finished job with its final event', async () => {
    const gus = await guestLogin(base);
    const { jobId } = await submitPhoto(base, gus.accessToken, await makePhoto(7), {
      hint: '건전지',
    });
    const job = await waitForEnd(base, gus.accessToken, jobId);
    expect(job.status).toBe('completed');
    for (const lastEventId of ['99999', '99999999999999999999', '-1', 'abc', '1e3']) {
      const s = await stream(gus, jobId, { lastEventId });
      expect(s.res.status).toBe(200);
      const events = await s.done; // ends by itself: no heartbeats forever
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ event: 'completed', status: 'completed' });
    }
    // The id the stream itself sent last (what an EventSource reconnects with): the same.
    const first = await (await stream(gus, jobId)).done;
    const again = await (await stream(gus, jobId, { lastEventId: first[0].id })).done;
    expect(again).toEqual(first);
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
    await waitFor('the server ending the stream', () => s.ended(), 30_000);
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

  describe('with 3 s access tokens', () => {
    let shortLived: RunningApp;
    beforeAll(async () => {
      // A second API process on the same services, issuing access tokens that live 3 s.
      shortLived = await bootRole(iso, {
        APP_ROLE: 'api',
        VISION_PROVIDER: 'none',
        RATE_LIMIT_LOGIN_PER_IP: '0',
        SSE_HEARTBEAT_MS: '200',
        JWT_ACCESS_TTL: '3s',
      });
    });
    afterAll(async () => {
      for (const c of open) c.abort();
      await shortLived?.close();
    });

    it('a stream ends when its access token expires; the token cannot reopen it', async () => {
      const url = shortLived.url!;
      const hal = await guestLogin(url);
      const res = await fetch(`${url}/api/v1/waste/analyze`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...bearer(hal) },
        body: JSON.stringify({ contentType: 'image/jpeg', contentLength: 5000 }),
      });
      expect(res.status).toBe(201);
      const { jobId } = (await res.json()) as { jobId: string };
      const s = await stream(hal, jobId, { base: url });
      expect(s.res.status).toBe(200);
      // The job waits for its photo forever; only the token's expiry can end this stream.
      expect(await s.done).toEqual([
        { event: 'progress', id: expect.any(String), status: 'awaiting_upload' },
      ]);
      const again = await stream(hal, jobId, { base: url });
      expect(again.res.status).toBe(401);
    });
  });
});

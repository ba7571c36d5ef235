// Virtual users playing the mobile app, k6-style: each VU runs a script (guest login, then
// journeys: analyze → PUT the photo → upload-complete → follow the job by polling every 0.5 s or
// over SSE until it ends), with think time between journeys. HTTP goes through undici (the client
// behind Node's fetch) with its own connection pools; SSE through the `eventsource` package. The
// driver only schedules users and records what each call took; every loop here is bounded in
// attempts and in time.
import { performance } from 'node:perf_hooks';
import { EventSource } from 'eventsource';
import { Agent, fetch as undiciFetch, request } from 'undici';
import { sleep } from './system.mjs';

const TERMINAL = new Set(['completed', 'failed', 'expired']);
const now = () => performance.now();

export class Recorder {
  constructor() {
    this.journeys = [];
    this.polls = []; // status poll latencies (ms)
    this.pollErrors = 0;
    this.logins = [];
    this.loginErrors = 0;
    this.inFlight = 0;
    this.peakInFlight = 0;
    this.streamsOpen = 0;
    this.peakStreams = 0;
    this.errors = new Map();
  }

  error(what) {
    this.errors.set(what, (this.errors.get(what) ?? 0) + 1);
  }
}

/**
 * Photo choice per journey: `repeat` share re-sends the exact bytes of a photo already analysed
 * to completion, `near` a re-encoded near-copy of one; the rest are photos never sent before.
 */
export class PhotoPicker {
  constructor(pool, { repeat = 0.2, near = 0.1 } = {}) {
    this.pool = pool;
    this.repeat = repeat;
    this.near = near;
    this.next = 0;
    this.done = []; // indexes of photos whose first job completed
    this.nearUsed = new Set();
  }

  pick() {
    const r = Math.random();
    if (this.done.length && r < this.repeat) {
      const i = this.done[Math.floor(Math.random() * this.done.length)];
      return { kind: 'repeat', index: i, bytes: this.pool.originals[i] };
    }
    if (this.done.length && r < this.repeat + this.near) {
      const candidates = this.done.filter((i) => !this.nearUsed.has(i));
      if (candidates.length) {
        const i = candidates[Math.floor(Math.random() * candidates.length)];
        this.nearUsed.add(i);
        return { kind: 'near', index: i, bytes: this.pool.near[i] };
      }
    }
    // Fresh photos cycle through the pool: after a full cycle a "new" one is really a repeat.
    const i = this.next++ % this.pool.originals.length;
    const kind = this.next > this.pool.originals.length ? 'repeat' : 'new';
    return { kind, index: i, bytes: this.pool.originals[i] };
  }

  completed(photo) {
    if (photo.kind === 'new') this.done.push(photo.index);
  }
}

export class Driver {
  /**
   * @param {object} o
   * @param {string} o.base API base URL (http://127.0.0.1:port)
   * @param {Recorder} o.rec
   * @param {PhotoPicker} o.photos
   * @param {number} o.followTimeoutMs give up following a job after this long
   */
  constructor(o) {
    Object.assign(this, o);
    this.api = `${o.base}/api/v1`;
    // Unlimited sockets per origin: each VU is a phone with its own connection.
    this.agent = new Agent({ keepAliveTimeout: 30_000, connections: null, pipelining: 1 });
    this.sseAgent = new Agent({ keepAliveTimeout: 30_000, connections: null, bodyTimeout: 0 });
    this.stopAt = Infinity;
    /** Completed jobs with their owner's token (the autocannon poll phase reads them). */
    this.tokens = [];
  }

  async call(method, path, { token, body, headers = {}, raw } = {}) {
    const h = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    let payload = body;
    if (body !== undefined && !raw) {
      h['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const t0 = now();
    const res = await request(path.startsWith('http') ? path : `${this.api}${path}`, {
      method,
      headers: h,
      body: payload,
      dispatcher: this.agent,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    const text = await res.body.text();
    const ms = now() - t0;
    let json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, json, ms, text };
  }

  /** `fn` until it returns a value, `attempts` times at most, waiting `waitMs` between. */
  async retry(what, attempts, waitMs, fn) {
    for (let i = 0; i < attempts; i++) {
      try {
        const v = await fn();
        if (v !== undefined) return v;
      } catch (err) {
        this.rec.error(`${what}: ${err.code ?? err.message}`.slice(0, 120));
      }
      if (i < attempts - 1) await sleep(waitMs);
    }
    return undefined;
  }

  async login() {
    return this.retry('login', 10, 1000, async () => {
      const r = await this.call('POST', '/auth/guest', { body: {} });
      if (r.status === 201) {
        this.rec.logins.push(r.ms);
        return r.json.accessToken;
      }
      this.rec.loginErrors++;
      this.rec.error(`login ${r.status}`);
      return undefined;
    });
  }

  /** One VU: login, then `journeys` journeys with think time; stops starting new ones at stopAt. */
  async user(u, { follow, journeys, thinkMs: [thinkMin, thinkMax], startDelayMs }) {
    await sleep(startDelayMs);
    const token = await this.login();
    if (!token) return;
    for (let j = 0; j < journeys && Date.now() < this.stopAt; j++) {
      if (j > 0) {
        const think = thinkMin + Math.random() * (thinkMax - thinkMin);
        await sleep(Math.max(0, Math.min(think, this.stopAt - Date.now())));
      }
      if (Date.now() >= this.stopAt) break;
      await this.journey(u, token, follow);
    }
  }

  /**
   * One steady-arrival user (bench/steady.mjs): guest login, one journey, polling every
   * `pollEveryMs` until the job ends.
   */
  async arrival(u, { pollEveryMs = 500 } = {}) {
    const t0 = now();
    const token = await this.login();
    if (!token) {
      this.rec.journeys.push({ user: u, follow: 'poll', status: 'no-login', at: Date.now() });
      return;
    }
    await this.journey(u, token, 'poll', { pollEveryMs, loginMs: now() - t0 });
  }

  async journey(u, token, follow, { pollEveryMs = 500, loginMs } = {}) {
    const photo = this.photos.pick();
    const rec = { user: u, follow, photo: photo.kind, status: 'not-accepted', at: Date.now() };
    if (loginMs !== undefined) Object.assign(rec, { loginMs, pollEveryMs });
    this.rec.journeys.push(rec);
    this.rec.inFlight++;
    this.rec.peakInFlight = Math.max(this.rec.peakInFlight, this.rec.inFlight);
    try {
      await this.submit(rec, token, photo);
      if (rec.accepted) {
        await (follow === 'sse' ? this.followSse(rec, token) : this.poll(rec, token, pollEveryMs));
        if (rec.status === 'completed') {
          this.photos.completed(photo);
          this.tokens.push({ jobId: rec.jobId, token });
        }
      }
    } catch (err) {
      rec.clientError = String(err.message ?? err).slice(0, 200);
      this.rec.error(`journey: ${rec.clientError}`);
    } finally {
      this.rec.inFlight--;
    }
  }

  async submit(rec, token, photo) {
    const analyze = await this.retry('analyze', 6, 1000, async () => {
      const r = await this.call('POST', '/waste/analyze', {
        token,
        body: { contentType: 'image/jpeg', contentLength: photo.bytes.length, locale: 'ko' },
      });
      if (r.status === 201) return r;
      this.rec.error(`analyze ${r.status}`);
      return undefined;
    });
    if (!analyze) return;
    rec.analyzeMs = analyze.ms;
    rec.jobId = analyze.json.jobId;
    const up = analyze.json.upload;
    const u = new URL(up.url);
    const target = `${this.base}${u.pathname}${u.search}`;
    const put = await this.retry('upload', 4, 1000, async () => {
      const r = await this.call(up.method, target, {
        headers: up.headers,
        body: photo.bytes,
        raw: true,
      });
      if (r.status >= 200 && r.status < 300) return r;
      this.rec.error(`upload ${r.status}`);
      return undefined;
    });
    if (!put) return;
    rec.uploadMs = put.ms;
    // Repeatable by contract: a lost answer or a 503 (queue not accepting) is simply retried.
    const complete = await this.retry('upload-complete', 20, 1000, async () => {
      const r = await this.call('POST', `/waste/upload-complete/${rec.jobId}`, { token });
      if (r.status === 202) return r;
      this.rec.error(`upload-complete ${r.status}`);
      return undefined;
    });
    if (!complete) return;
    rec.completeMs = complete.ms;
    rec.submitMs = rec.analyzeMs + rec.completeMs;
    // The steady mode's "submit": everything the phone waits for before it can follow the job.
    rec.submitAllMs = rec.analyzeMs + rec.uploadMs + rec.completeMs;
    rec.accepted = true;
    rec.acceptedAt = now();
    rec.status = complete.json?.status ?? 'queued';
  }

  observe(rec, job, t) {
    if (rec.guidanceMs === undefined && job.result && Array.isArray(job.result.items)) {
      rec.guidanceMs = t - rec.acceptedAt;
    }
    rec.status = job.status;
    if (TERMINAL.has(job.status)) {
      rec.endMs = t - rec.acceptedAt;
      rec.errorCode = job.error?.code ?? null;
      rec.cache = job.result?.cache?.kind ?? (job.result ? 'miss' : null);
      rec.timings = job.result?.timings ?? null;
      rec.coaching = job.result?.coaching?.source ?? null;
      rec.items = job.result?.items?.length ?? 0;
      return true;
    }
    return false;
  }

  async poll(rec, token, everyMs = 500) {
    const deadline = now() + this.followTimeoutMs;
    rec.pollCount = 0;
    let next = now();
    while (now() < deadline) {
      const wait = next - now();
      if (wait > 0) await sleep(wait);
      next = now() + everyMs;
      rec.pollCount++;
      let r;
      try {
        r = await this.call('GET', `/waste/status/${rec.jobId}`, { token });
      } catch (err) {
        this.rec.pollErrors++;
        this.rec.error(`status: ${err.code ?? err.message}`);
        continue;
      }
      if (r.status !== 200) {
        this.rec.pollErrors++;
        this.rec.error(`status ${r.status}`);
        continue;
      }
      this.rec.polls.push(r.ms);
      if (this.observe(rec, r.json, now())) return;
    }
    rec.followTimedOut = true;
  }

  followSse(rec, token) {
    return new Promise((resolve) => {
      const url = `${this.api}/waste/jobs/${rec.jobId}/events`;
      rec.sseErrors = 0;
      let done = false;
      const es = new EventSource(url, {
        fetch: (input, init) =>
          undiciFetch(input, {
            ...init,
            headers: { ...init.headers, authorization: `Bearer ${token}` },
            dispatcher: this.sseAgent,
          }),
      });
      this.rec.streamsOpen++;
      this.rec.peakStreams = Math.max(this.rec.peakStreams, this.rec.streamsOpen);
      const finish = (timedOut) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        es.close();
        this.rec.streamsOpen--;
        if (timedOut) rec.followTimedOut = true;
        resolve();
      };
      const onEvent = (e) => {
        let job;
        try {
          job = JSON.parse(e.data);
        } catch {
          return;
        }
        if (this.observe(rec, job, now())) finish(false);
      };
      es.addEventListener('progress', onEvent);
      es.addEventListener('completed', onEvent);
      es.addEventListener('failed', onEvent);
      // The library reconnects by itself (with Last-Event-ID); we only count the drops.
      es.onerror = () => {
        rec.sseErrors++;
        this.rec.error('sse error');
      };
      const timer = setTimeout(() => finish(true), this.followTimeoutMs);
    });
  }

  /**
   * `users` pollers, each reading one completed job every 0.5 s on its own schedule (random
   * start offset, so the requests are spread over the interval as real phones' are).
   */
  async pollHold(targets, users, seconds) {
    const until = now() + seconds * 1000;
    const one = async () => {
      const t = targets[Math.floor(Math.random() * targets.length)];
      await sleep(Math.random() * 500);
      let next = now();
      while (now() < until) {
        const wait = next - now();
        if (wait > 0) await sleep(wait);
        next = now() + 500;
        try {
          const r = await this.call('GET', `/waste/status/${t.jobId}`, { token: t.token });
          if (r.status === 200) this.rec.polls.push(r.ms);
          else this.rec.pollErrors++;
        } catch {
          this.rec.pollErrors++;
        }
      }
    };
    await Promise.all(Array.from({ length: users }, one));
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.agent.close(), this.sseAgent.close()]);
  }
}

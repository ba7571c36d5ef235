// A steady stream of new jobs (rate per second) against the API, recording every answer the API
// gave (endpoint, status, time, Retry-After) so a scenario can say what clients saw during an
// outage. Each journey: analyze → PUT the photo → upload-complete (repeated on 503/errors as the
// app does, after Retry-After, for up to a minute) → status every second until the job ends or
// the follow deadline passes. HTTP through bench/lib/vu.mjs's Driver.call.
import { performance } from 'node:perf_hooks';
import { Driver, Recorder } from '../lib/vu.mjs';
import { sleep } from '../lib/system.mjs';

const TERMINAL = new Set(['completed', 'failed', 'expired']);

export class OutageLoad {
  constructor(base, photos, { users = 20 } = {}) {
    this.driver = new Driver({ base, rec: new Recorder(), photos: null, followTimeoutMs: 0 });
    this.photos = photos;
    this.users = users;
    this.calls = []; // { t (ms epoch), what, status, ms }
    this.journeys = [];
    this.next = 0;
  }

  async login() {
    this.tokens = [];
    for (let i = 0; i < this.users; i++) {
      const token = await this.driver.login();
      if (!token) throw new Error('guest login failed');
      this.tokens.push(token);
    }
  }

  async call(what, method, path, opts) {
    const t = Date.now();
    const t0 = performance.now();
    try {
      const r = await this.driver.call(method, path, opts);
      this.calls.push({ t, what, status: r.status, ms: r.ms });
      return r;
    } catch (err) {
      const status = err.code ?? 'error';
      this.calls.push({ t, what, status, ms: performance.now() - t0 });
      return { status, json: undefined };
    }
  }

  /** Repeats `fn` until it returns a value, honouring 503s like the app, for up to `ms`. */
  async repeat(ms, fn) {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      const v = await fn();
      if (v) return v;
      await sleep(1000);
    }
    return undefined;
  }

  async journey(followUntil) {
    const photo = this.photos[this.next % this.photos.length];
    const token = this.tokens[this.next % this.tokens.length];
    this.next++;
    const j = { startedAt: Date.now(), accepted: false, status: 'not-accepted' };
    this.journeys.push(j);
    const analyze = await this.repeat(60_000, async () => {
      const r = await this.call('analyze', 'POST', '/waste/analyze', {
        token,
        body: { contentType: 'image/jpeg', contentLength: photo.length, hint: '페트병' },
      });
      return r.status === 201 ? r : undefined;
    });
    if (!analyze) return;
    j.jobId = analyze.json.jobId;
    const up = analyze.json.upload;
    const u = new URL(up.url);
    const put = await this.repeat(30_000, async () => {
      const r = await this.call(
        'upload',
        up.method,
        `${this.driver.base}${u.pathname}${u.search}`,
        {
          headers: up.headers,
          body: photo,
          raw: true,
        },
      );
      return r.status >= 200 && r.status < 300 ? r : undefined;
    });
    if (!put) return;
    const complete = await this.repeat(60_000, async () => {
      const r = await this.call('upload-complete', 'POST', `/waste/upload-complete/${j.jobId}`, {
        token,
      });
      return r.status === 202 ? r : undefined;
    });
    if (!complete) return;
    j.accepted = true;
    j.acceptedAt = Date.now();
    j.status = complete.json?.status ?? 'queued';
    while (Date.now() < followUntil() && !TERMINAL.has(j.status)) {
      await sleep(1000);
      const r = await this.call('status', 'GET', `/waste/status/${j.jobId}`, { token });
      if (r.status === 200 && r.json) {
        j.status = r.json.status;
        j.errorCode = r.json.error?.code ?? null;
        if (TERMINAL.has(j.status)) j.endedAt = Date.now();
      }
    }
  }

  /** Starts `rate` journeys per second until stop(); journeys follow their job until followUntil. */
  run(rate, followUntil) {
    this.running = [];
    this.timer = setInterval(() => this.running.push(this.journey(followUntil)), 1000 / rate);
  }

  stop() {
    clearInterval(this.timer);
  }

  async settle() {
    this.stop();
    await Promise.all(this.running);
  }

  close() {
    return this.driver.close();
  }
}

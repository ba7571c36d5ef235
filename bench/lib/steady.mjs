// Steady arrival (issue 12): new users arrive at a fixed rate R, open loop — a timer starts user i
// at t0 + i/R whatever the system does, so a system that falls behind builds a backlog instead of
// slowing the arrivals down (think time would). Each user: guest login, analyze, PUT,
// upload-complete, then polls every 0.5 s until the job ends; every tenth user polls every 50 ms
// as a latency probe. The same code drives our system and the peer.
import { performance } from 'node:perf_hooks';
import { dist, round } from './stats.mjs';
import { machineBusyS } from './procs.mjs';
import { sleep } from './system.mjs';
import { Driver, Recorder } from './vu.mjs';

export const PROBE_EVERY = 10;

/** Photos never sent before in this rate's window: the pool in order (caches are emptied). */
class FreshPhotos {
  constructor(pool) {
    this.pool = pool;
    this.next = 0;
  }

  pick() {
    const i = this.next++ % this.pool.originals.length;
    return { kind: 'new', index: i, bytes: this.pool.originals[i] };
  }

  completed() {}
}

/**
 * Drives `base` at `rate` users/s for `durationS`, waits for every user to finish (each follows
 * at most `followTimeoutMs`), and returns the client-side figures, the meters' CPU and RSS and
 * the journeys (for the database check).
 * `visionMs` / `llmMs`: the stand-ins' fixed latencies, subtracted for guidance and overhead.
 */
export async function runRate({ base, rate, durationS, pool, meters, visionMs, llmMs, log }) {
  const rec = new Recorder();
  const driver = new Driver({
    base,
    rec,
    photos: new FreshPhotos(pool),
    followTimeoutMs: 60_000,
  });
  await Promise.all(meters.map((m) => m.begin()));
  const busy0 = await machineBusyS();
  const sampler = setInterval(() => meters.forEach((m) => void m.sample()), 1000);
  const total = Math.round(rate * durationS);
  const users = [];
  const t0 = performance.now();
  const wall0 = Date.now();
  let late = 0;
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    // How far behind schedule the driver itself started a user (its own saturation).
    else if (-wait > 50) late++;
    const probe = i % PROBE_EVERY === PROBE_EVERY - 1;
    users.push(driver.arrival(i, { pollEveryMs: probe ? 50 : 500 }));
    if (i && i % Math.round(rate * 10) === 0) {
      log?.(
        `  ${Math.round((performance.now() - t0) / 1000)} s, ${i} users, ${rec.inFlight} in flight`,
      );
    }
  }
  const arrivalsS = (performance.now() - t0) / 1000;
  await Promise.all(users);
  clearInterval(sampler);
  await Promise.all(meters.map((m) => m.sample()));
  const wallS = (Date.now() - wall0) / 1000;
  const busyS = (await machineBusyS()) - busy0;
  await driver.close();

  const J = rec.journeys;
  const acc = J.filter((j) => j.accepted);
  const done = acc.filter((j) => j.status === 'completed');
  // Jobs that called vision (a cache hit calls nothing); the LLM was called when the coaching
  // took at least its injected latency (our coaching cache answers in ~0 ms; the peer always calls).
  const missed = done.filter((j) => j.timings === null || j.timings?.visionMs != null);
  // Guidance and overhead are latencies of the system, read by the probes (every 50 ms): a
  // 0.5 s poller sees them only at its next poll, which adds up to 500 ms of the phone's own
  // schedule to the figure (a job of exactly vision + LLM + 30 ms is seen 500 ms late). The
  // pollers' figures are reported too (…AllPollers), never used for the ratios or targets.
  const probes = missed.filter((j) => j.pollEveryMs !== undefined && j.pollEveryMs <= 50);
  const llmCalled = (j) => !j.timings || (j.timings.coachingMs ?? 0) >= llmMs * 0.9;
  const overheadOf = (j) => j.endMs - visionMs - (llmCalled(j) ? llmMs : 0);
  const cpu = {};
  const rss = {};
  let tracked = 0;
  for (const m of meters) {
    const s = m.cpuS();
    tracked += s;
    cpu[m.name] = done.length ? round((s * 1000) / done.length, 2) : null;
    rss[m.name] = round(m.maxRssMb);
  }
  return {
    rate,
    users: total,
    driverLate: late,
    arrivalsS: round(arrivalsS),
    wallS: round(wallS),
    accepted: acc.length,
    completed: done.length,
    completedPct: total ? round((done.length / total) * 100, 1) : null,
    submit: dist(acc.map((j) => j.submitAllMs)),
    login: dist(rec.logins),
    poll: dist(rec.polls),
    pollErrors: rec.pollErrors,
    guidanceMinusVision: dist(probes.map((j) => j.guidanceMs - visionMs)),
    overhead: dist(probes.map(overheadOf)),
    guidanceMinusVisionAllPollers: dist(missed.map((j) => j.guidanceMs - visionMs)),
    overheadAllPollers: dist(missed.map(overheadOf)),
    endToEnd: dist(done.map((j) => j.endMs)),
    llmCalledPct: missed.length
      ? round((missed.filter(llmCalled).length / missed.length) * 100)
      : null,
    cpuMsPerJob: cpu,
    maxRssMb: rss,
    // Everything else the machine did meanwhile (other agents, the kernel): the noise, in cores.
    otherCores: round(Math.max(0, busyS - tracked) / wallS, 2),
    clientErrors: Object.fromEntries([...rec.errors].sort((a, b) => b[1] - a[1]).slice(0, 8)),
    journeys: J,
  };
}

const LATENCIES = [
  ['submit', 'submit p95'],
  ['poll', 'poll p95'],
  ['guidanceMinusVision', 'guidance − vision p95'],
  ['overhead', 'overhead p95'],
];

/** peer ÷ ours per latency p95 (> 1: ours is faster); null when either side has no figure. */
export function ratios(ours, peer) {
  const out = {};
  for (const [k] of LATENCIES) {
    const a = ours[k]?.p95;
    const b = peer?.[k]?.p95;
    out[k] = a > 0 && b > 0 ? round(b / a, 2) : null;
  }
  return out;
}

/** The targets of issue 12, item 2, for one rate. */
export function steadyTargets(r) {
  const T = [];
  const add = (what, value, target, ok) =>
    T.push([what, value ?? '–', target, ok ? 'met' : 'MISSED']);
  const o = r.ours;
  if (r.rate >= 25) {
    add(`R=${r.rate}: completed`, `${o.completed}/${o.users}`, '100 %', o.completed === o.users);
    add(`R=${r.rate}: submit p95`, o.submit.p95, '< 50 ms', o.submit.p95 < 50);
    add(`R=${r.rate}: poll p95`, o.poll.p95, '< 25 ms', o.poll.p95 < 25);
    add(
      `R=${r.rate}: guidance − vision p95`,
      o.guidanceMinusVision.p95,
      '≤ 200 ms',
      o.guidanceMinusVision.p95 <= 200,
    );
    add(`R=${r.rate}: overhead p95`, o.overhead.p95, '< 250 ms', o.overhead.p95 < 250);
    const rss = Math.max(
      ...Object.entries(o.maxRssMb)
        .filter(([k]) => k === 'app')
        .map(([, v]) => v),
    );
    add(`R=${r.rate}: app RSS`, rss, '< 400 MB', rss < 400);
  } else if (r.peer) {
    for (const [k, label] of LATENCIES) {
      const x = r.ratios[k];
      add(`R=${r.rate}: ${label}, peer ÷ ours`, x, '≥ 3×', x !== null && x >= 3);
    }
  }
  return T;
}

export { LATENCIES };

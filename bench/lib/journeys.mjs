// Journey phases: virtual users with think time (poll or SSE), an optional fault in the middle,
// resources per role from /proc, and the database check afterwards (lib/checks.mjs).
import { verify } from './checks.mjs';
import { EXPECTED_FAILURES, inject } from './faults.mjs';
import { diffCounters, round } from './stats.mjs';
import { log } from './sut.mjs';
import { procSample, sleep } from './system.mjs';
import { serverHttp, summarise } from './summary.mjs';
import { Driver, PhotoPicker, Recorder } from './vu.mjs';

/** Drops the image cache (exact and dHash band keys) from the bench's private Redis. */
export async function clearImageCache(iso) {
  const Redis = (await import('ioredis')).default;
  const redis = new Redis(iso.redis.url);
  try {
    for (const pattern of [`${iso.id}:waste:img:*`, `${iso.id}:waste:phash:*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        if (keys.length) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
}

/**
 * One load phase of virtual users (ctx: { sys, standins, db, pool, settings, full, sharedFaults }),
 * then the database check and the phase's summary.
 */
export async function runJourneys(phase, ctx) {
  const { sys, standins, db } = ctx;
  const rec = new Recorder();
  const driver = new Driver({
    base: sys.base,
    rec,
    photos: undefined,
    followTimeoutMs: ctx.full ? 60_000 : 30_000,
  });
  ctx.lastDriver = driver;
  ctx.tokens ??= [];
  const died = await sys.ensureAlive();
  const crashes0 = sys.crashes?.length ?? 0;
  // Each phase starts with a cold image cache and its own photo cycle, so "new" photos are new.
  await clearImageCache(sys.iso);
  ctx.picker = new PhotoPicker(ctx.pool, ctx.settings.mix);
  driver.photos = ctx.picker;
  await standins.ctl('/reset', 'POST');
  const m0 = await sys.metrics();
  const restarts0 = new Map(sys.roles.map((r) => [r.name, r.restarts]));
  const cpu0 = new Map(sys.roles.map((r) => [r.name, r.totalCpuS()]));
  const sCpu0 = (await procSample(standins.child.pid))?.cpuS ?? 0;
  const lg0 = process.cpuUsage();
  const t0 = Date.now();
  driver.stopAt = t0 + phase.durationS * 1000;

  const users = [];
  const total = phase.poll + phase.sse;
  for (let u = 0; u < total; u++) {
    users.push(
      driver.user(u, {
        follow: u < phase.poll ? 'poll' : 'sse',
        journeys: phase.journeys,
        thinkMs: phase.think,
        startDelayMs: (u / total) * phase.rampS * 1000,
      }),
    );
  }
  let faultNote;
  const fault = phase.fault
    ? sleep(phase.faultAtS * 1000).then(async () => {
        log(`${phase.name}: fault ${phase.fault}`);
        faultNote = await inject(phase.fault, sys, standins, phase, {
          sharedFaults: ctx.sharedFaults,
        });
        log(`${phase.name}: fault over`);
      })
    : Promise.resolve();
  const sampler = setInterval(() => {
    for (const r of sys.roles) void r.sample();
    void standins.watch.sample();
  }, 1000);
  const progress = setInterval(() => {
    const done = rec.journeys.filter((j) => j.status === 'completed').length;
    log(
      `${phase.name}: ${Math.round((Date.now() - t0) / 1000)} s, journeys ${rec.journeys.length}, in flight ${rec.inFlight}, streams ${rec.streamsOpen}, completed ${done}`,
    );
  }, 10_000);
  try {
    await Promise.all([...users, fault]);
  } finally {
    clearInterval(progress);
  }
  const loadEnd = Date.now();
  const check = await verify(db, rec.journeys, {
    drainMs: 60_000,
    since: new Date(t0),
    expectedFailures: EXPECTED_FAILURES[phase.fault] ?? [],
  });
  clearInterval(sampler);
  await Promise.all(sys.roles.map((r) => r.sample()));
  const crashes = (sys.crashes ?? []).slice(crashes0);
  // Not a lost job by itself, but a defect worth its own line in the report.
  if (crashes.length) check.crashes = crashes;
  if (died.length) {
    check.ok = false;
    check.problems.push(`before the phase, ${died.join(', ')} had died by itself`);
  }
  if (!check.accepted) {
    check.ok = false;
    check.problems.push('no job was accepted');
  }
  if (!phase.fault && check.notAccepted) {
    check.ok = false;
    check.problems.push(`${check.notAccepted} submission(s) refused without a fault`);
  }
  const wallS = (loadEnd - t0) / 1000;
  const lg = process.cpuUsage(lg0);
  const sCpu = ((await procSample(standins.child.pid))?.cpuS ?? sCpu0) - sCpu0;
  const resources = sys.roles.map((r) => ({
    role: r.name,
    maxRssMb: round(r.maxRssMb),
    meanRssMb: round(r.rssSamples.reduce((a, b) => a + b, 0) / Math.max(1, r.rssSamples.length)),
    cpuPct: round(((r.totalCpuS() - (cpu0.get(r.name) ?? 0)) / wallS) * 100),
    restarts: r.restarts - (restarts0.get(r.name) ?? 0),
  }));
  resources.push({
    role: 'stand-ins',
    maxRssMb: round(standins.watch.maxRssMb),
    cpuPct: round((sCpu / wallS) * 100),
  });
  resources.push({
    role: 'load generator',
    maxRssMb: round(process.memoryUsage().rss / 1048576),
    cpuPct: round(((lg.user + lg.system) / 1e6 / wallS) * 100),
  });
  // Event-loop delay per role (prom-client's default metrics), at the end of the phase.
  await Promise.all(
    resources.map(async (x) => {
      const role = sys.role(x.role);
      if (!role) return;
      try {
        const text = await (await fetch(`http://127.0.0.1:${role.metricsPort}/metrics`)).text();
        const g = (n) => Number(new RegExp(`^${n} ([\\d.e+-]+)`, 'm').exec(text)?.[1]);
        x.loopP99Ms = round(g('nodejs_eventloop_lag_p99_seconds') * 1000);
        x.loopMaxMs = round(g('nodejs_eventloop_lag_max_seconds') * 1000);
      } catch {
        /* role gone */
      }
    }),
  );
  for (const r of sys.roles) r.rssSamples = [];
  await sys.saveLogs(phase.name);
  const stand = await standins.ctl('/stats');
  const counters = diffCounters(await sys.metrics(), m0);
  const summary = summarise(phase, rec, check, stand, wallS);
  summary.serverHttp = serverHttp(counters);
  for (const k of Object.keys(counters)) if (k.startsWith('http_request')) delete counters[k];
  return { ...summary, resources, fault: faultNote, counters, wallS: round(wallS) };
}

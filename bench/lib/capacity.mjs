// Status-endpoint capacity: 500 pollers holding 0.5 s schedules, and autocannon flat out.
import autocannon from 'autocannon';
import { dist, round } from './stats.mjs';
import { Driver, Recorder } from './vu.mjs';

export async function runPollHold(phase, ctx) {
  const targets = ctx.completedTargets;
  if (!targets?.length) return { name: phase.name, skipped: 'no completed jobs to poll' };
  const rec = new Recorder();
  const driver = new Driver({ base: ctx.sys.base, rec, followTimeoutMs: 0 });
  const cpu0 = new Map(ctx.sys.roles.map((r) => [r.name, r.totalCpuS()]));
  const lg0 = process.cpuUsage();
  const t0 = Date.now();
  const sampler = setInterval(() => ctx.sys.roles.forEach((r) => void r.sample()), 1000);
  await driver.pollHold(targets, phase.pollHold, phase.durationS);
  clearInterval(sampler);
  await driver.close();
  const wallS = (Date.now() - t0) / 1000;
  const lg = process.cpuUsage(lg0);
  return {
    name: phase.name,
    pollHold: {
      users: phase.pollHold,
      seconds: phase.durationS,
      requests: rec.polls.length,
      rps: round(rec.polls.length / wallS),
      errors: rec.pollErrors,
      latency: dist(rec.polls),
    },
    resources: [
      ...ctx.sys.roles.map((r) => ({
        role: r.name,
        maxRssMb: round(r.maxRssMb),
        cpuPct: round(((r.totalCpuS() - (cpu0.get(r.name) ?? 0)) / wallS) * 100),
      })),
      {
        role: 'load generator',
        maxRssMb: round(process.memoryUsage().rss / 1048576),
        cpuPct: round(((lg.user + lg.system) / 1e6 / wallS) * 100),
      },
    ],
    check: {
      ok: rec.pollErrors === 0,
      problems: rec.pollErrors ? [`${rec.pollErrors} poll errors`] : [],
    },
  };
}

export async function runAutocannon(phase, ctx) {
  const targets = ctx.completedTargets;
  if (!targets?.length) return { name: phase.name, skipped: 'no completed jobs to poll' };
  const times = [];
  const cpu0 = new Map(ctx.sys.roles.map((r) => [r.name, r.totalCpuS()]));
  const lg0 = process.cpuUsage();
  const t0 = Date.now();
  const sampler = setInterval(() => ctx.sys.roles.forEach((r) => void r.sample()), 1000);
  const result = await new Promise((resolve, reject) => {
    const inst = autocannon(
      {
        url: ctx.sys.base,
        connections: phase.connections,
        duration: phase.durationS,
        timeout: 10,
        requests: [
          {
            method: 'GET',
            setupRequest: (req) => {
              const t = targets[Math.floor(Math.random() * targets.length)];
              return {
                ...req,
                path: `/api/v1/waste/status/${t.jobId}`,
                headers: { ...req.headers, authorization: `Bearer ${t.token}` },
              };
            },
          },
        ],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    inst.on('response', (_client, _status, _bytes, ms) => times.push(ms));
  });
  clearInterval(sampler);
  const wallS = (Date.now() - t0) / 1000;
  const lg = process.cpuUsage(lg0);
  return {
    name: phase.name,
    autocannon: {
      connections: phase.connections,
      requests: result.requests.total,
      rps: round(result.requests.average),
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      latency: dist(times),
      autocannonP99: result.latency.p99,
    },
    resources: [
      ...ctx.sys.roles.map((r) => ({
        role: r.name,
        maxRssMb: round(r.maxRssMb),
        cpuPct: round(((r.totalCpuS() - (cpu0.get(r.name) ?? 0)) / wallS) * 100),
      })),
      {
        role: 'load generator',
        maxRssMb: round(process.memoryUsage().rss / 1048576),
        cpuPct: round(((lg.user + lg.system) / 1e6 / wallS) * 100),
      },
    ],
    check: { ok: result.non2xx === 0 && result.errors === 0, problems: [] },
  };
}

// The run's report: targets met or missed, and the markdown section appended to
// docs/benchmarks.md.
import { fmtDist, table } from './stats.mjs';

export function targetsOf(results) {
  const T = [];
  const by = (n) => results.find((r) => r.name === n);
  const add = (what, value, target, ok) =>
    T.push([what, value ?? '–', target, value == null ? 'n/a' : ok ? 'met' : 'MISSED']);
  const load = results.filter((r) => r.latency && !r.fault);
  for (const r of load) {
    add(
      `${r.name}: jobs completed`,
      `${r.check.completed}/${r.check.accepted}`,
      '100 %, none lost',
      r.check.ok && r.check.completed === r.check.accepted,
    );
    add(`${r.name}: submit p95`, r.latency.submit.p95, '< 50 ms', r.latency.submit.p95 < 50);
    if (r.latency.poll.n)
      add(`${r.name}: status poll p95`, r.latency.poll.p95, '< 25 ms', r.latency.poll.p95 < 25);
    if (r.guidance.sseMinusVision.n)
      add(
        `${r.name}: time to guidance − vision, p95 (SSE)`,
        r.guidance.sseMinusVision.p95,
        '≤ 200 ms',
        r.guidance.sseMinusVision.p95 <= 200,
      );
    if (r.overhead.sse.n)
      add(
        `${r.name}: overhead p95 (SSE, client-observed)`,
        r.overhead.sse.p95,
        '< 250 ms',
        r.overhead.sse.p95 < 250,
      );
    add(
      `${r.name}: overhead p95 (server: total − vision − coaching)`,
      r.overhead.server.p95,
      '< 250 ms',
      r.overhead.server.p95 < 250,
    );
    if (r.repeat.sseEnd.n)
      add(
        `${r.name}: repeated photo, upload-complete → completed p95 (SSE)`,
        r.repeat.sseEnd.p95,
        '≤ 150 ms',
        r.repeat.sseEnd.p95 <= 150,
      );
    add(
      `${r.name}: repeated photo, server total p95`,
      r.repeat.serverTotal.p95,
      '≤ 150 ms',
      r.repeat.serverTotal.p95 <= 150,
    );
  }
  const ph = by('poll-hold-500');
  if (ph?.pollHold)
    add(
      `500 pollers × 2 req/s (${ph.pollHold.rps} req/s measured): status poll p95`,
      ph.pollHold.latency.p95,
      '< 25 ms',
      ph.pollHold.latency.p95 < 25,
    );
  const one =
    by('all-in-one') ??
    (results[0]?.resources?.find((x) => x.role === 'all') ? results[0] : undefined);
  const rss = one?.resources?.find((x) => x.role === 'all')?.maxRssMb;
  if (rss !== undefined) add('all roles in one process: max RSS', rss, '< 400 MB', rss < 400);
  for (const r of results.filter((x) => x.fault)) {
    add(
      `fault ${r.name}: every accepted job ended, none lost or duplicated`,
      `${r.check.completed} completed, ${
        Object.entries(r.check.failures)
          .map(([c, n]) => `${c}×${n}`)
          .join(' ') || 'no'
      } failed, ${r.check.lost} lost`,
      'all end',
      r.check.ok,
    );
  }
  return T;
}

export function markdown(run) {
  const L = [];
  const m = run.machine;
  L.push(
    `### ${run.startedAt.slice(0, 16).replace('T', ' ')} UTC — ${run.mode} (${run.ok ? 'correct' : 'CORRECTNESS FAILURE'})`,
  );
  L.push('');
  L.push(
    `Machine: ${m.cpus} × ${m.model}, ${m.memGb} GB, Node ${m.node}, load average at start ${m.loadavg}. Commit \`${m.commit}\`${m.dirty ? ' (+ uncommitted src changes)' : ''}. Topology: ${run.topology}. Stand-ins: vision ${run.settings.vision} ms, LLM ${run.settings.llm} ms (uniform). Photos: ${run.settings.photos} distinct + near-copies; mix ${Math.round(run.settings.mix.repeat * 100)} % exact repeats, ${Math.round(run.settings.mix.near * 100)} % near-repeats. Wall time ${run.wallS} s.`,
  );
  if (run.note) L.push('', run.note);
  L.push(
    '',
    '**Targets**',
    '',
    table([['what', 'measured (ms unless said)', 'target', ''], ...run.targets]),
  );
  const load = run.results.filter((r) => r.latency);
  if (load.length) {
    L.push('', '**Latency** (p50 / p95 / p99)', '');
    L.push(
      table([
        [
          'phase',
          'users (poll+SSE), peak in flight',
          'submit (analyze+complete)',
          'upload (PUT)',
          'status poll',
          'guidance (SSE)',
          'guidance (poll)',
          'guidance − vision (SSE)',
        ],
        ...load.map((r) => [
          r.name,
          `${r.users.poll}+${r.users.sse}, ${r.peakInFlight}`,
          fmtDist(r.latency.submit),
          fmtDist(r.latency.upload),
          fmtDist(r.latency.poll),
          fmtDist(r.guidance.sse),
          fmtDist(r.guidance.poll),
          fmtDist(r.guidance.sseMinusVision),
        ]),
      ]),
    );
    L.push('', '**End to end and overhead** (p50 / p95 / p99)', '');
    L.push(
      table([
        [
          'phase',
          'end to end (SSE)',
          'end to end (poll)',
          'server total',
          'overhead (SSE)',
          'overhead (server)',
          'repeat: end (SSE)',
          'repeat: server total',
        ],
        ...load.map((r) => [
          r.name,
          fmtDist(r.endToEnd.sse),
          fmtDist(r.endToEnd.poll),
          fmtDist(r.endToEnd.server),
          fmtDist(r.overhead.sse),
          fmtDist(r.overhead.server),
          fmtDist(r.repeat.sseEnd),
          fmtDist(r.repeat.serverTotal),
        ]),
      ]),
    );
    L.push('', '**Jobs, throughput, caches, third parties**', '');
    L.push(
      table([
        [
          'phase',
          'accepted',
          'completed',
          'failed',
          'lost',
          'completion',
          'jobs/min',
          'cache hits (exact / similar)',
          'repeat → exact',
          'near → similar',
          'new → any hit',
          'coaching llm / rules',
          'vision calls (answered, mean injected)',
          'LLM calls (mean injected)',
        ],
        ...load.map((r) => {
          const bp = r.cache.byPhoto;
          return [
            r.name,
            r.check.accepted,
            r.check.completed,
            Object.entries(r.check.failures)
              .map(([c, n]) => `${c}×${n}`)
              .join(' ') || 0,
            r.check.lost,
            `${r.completionRate} %`,
            r.throughputPerMin,
            `${r.cache.hitRate} % (${r.cache.exact} / ${r.cache.similar})`,
            `${bp.repeat.exact}/${bp.repeat.n}`,
            `${bp.near.similar + bp.near.exact}/${bp.near.n}`,
            `${bp.new.exact + bp.new.similar}/${bp.new.n}`,
            `${r.llm.coaching.llm} / ${r.llm.coaching.rules}`,
            `${r.vision.calls} (${r.vision.answered}, ${r.vision.injectedMeanMs} ms)`,
            `${r.llm.calls} (${r.llm.injectedMeanMs} ms)`,
          ];
        }),
      ]),
    );
  }
  if (load.length) {
    const keys = Object.keys(load[0].stages);
    L.push('', '**Server-side stage timings** (waste.jobs.timings, ms, p50 / p95)', '');
    L.push(
      table([
        ['phase', ...keys],
        ...load.map((r) => [
          r.name,
          ...keys.map((k) => (r.stages[k].n ? `${r.stages[k].p50} / ${r.stages[k].p95}` : '–')),
        ]),
      ]),
    );
  }
  const ac = run.results.find((r) => r.autocannon);
  if (ac) {
    const a = ac.autocannon;
    L.push(
      '',
      `**autocannon, status poll flat out** (capacity): ${a.connections} connections, no rate limit, ${run.phases.find((p) => p.autocannon)?.durationS} s: ${a.requests} requests, ${a.rps} req/s, latency ${fmtDist(a.latency)}, non-2xx ${a.non2xx}, errors ${a.errors}, timeouts ${a.timeouts}.`,
    );
  }
  const hold = run.results.find((r) => r.pollHold);
  if (hold) {
    const h = hold.pollHold;
    L.push(
      '',
      `**500 pollers holding** (each polls one completed job every 0.5 s on its own schedule): ${h.users} users, ${h.seconds} s, ${h.requests} requests, ${h.rps} req/s, latency ${fmtDist(h.latency)}, errors ${h.errors}.`,
    );
  }
  L.push(
    '',
    '**Resources per role** (max RSS MB / CPU % of one core over the phase / event-loop delay p99 at the end)',
    '',
  );
  const roles = [...new Set(run.results.flatMap((r) => (r.resources ?? []).map((x) => x.role)))];
  L.push(
    table([
      ['phase', ...roles],
      ...run.results.map((r) => [
        r.name,
        ...roles.map((name) => {
          const x = r.resources?.find((y) => y.role === name);
          return x
            ? `${x.maxRssMb} / ${x.cpuPct} %${x.loopP99Ms ? ` / loop p99 ${x.loopP99Ms} ms` : ''}${x.restarts ? ` (${x.restarts} restart)` : ''}`
            : '–';
        }),
      ]),
    ]),
  );
  const faults = run.results.filter((r) => r.fault);
  if (faults.length) {
    L.push('', '**Faults** (each under load)', '');
    L.push(
      table([
        [
          'scenario',
          'what was done',
          'accepted',
          'completed',
          'failed (code×n)',
          'refused at submit (retried by the app)',
          'lost',
          'history rows = completed',
          'verdict',
        ],
        ...faults.map((r) => [
          r.name,
          r.fault,
          r.check.accepted,
          r.check.completed,
          Object.entries(r.check.failures)
            .map(([c, n]) => `${c}×${n}`)
            .join(' ') || 0,
          r.check.notAccepted,
          r.check.lost,
          r.check.historyRows === r.check.completed ? 'yes' : `no (${r.check.historyRows})`,
          r.check.ok ? 'ok' : r.check.problems.join('; '),
        ]),
      ]),
    );
  }
  const crashed = run.results.filter((r) => r.check?.crashes?.length);
  if (crashed.length) {
    L.push(
      '',
      '**Crashes** (the bench restarts a crashed role after 2 s, as Kubernetes would)',
      '',
    );
    for (const r of crashed)
      for (const c of r.check.crashes)
        L.push(`- ${r.name}: ${c.role} exited (${c.how}) — ${c.reason}`);
  }
  const bad = run.results.filter((r) => r.check && !r.check.ok);
  if (bad.length) {
    L.push('', '**Problems**', '');
    for (const r of bad) L.push(`- ${r.name}: ${r.check.problems.join('; ')}`);
  }
  L.push('', `Raw figures: \`.tmp/bench/${run.file}\`.`, '');
  return L.join('\n');
}

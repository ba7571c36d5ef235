// A journey phase's figures from what the virtual users recorded and what the database says.
import { dist, round } from './stats.mjs';

/** Server-side view of the API's routes (http_request_duration_seconds): mean and ≤ 25/50 ms. */
export function serverHttp(counters) {
  const routes = {
    analyze: 'POST",route="/api/v1/waste/analyze',
    complete: 'POST",route="/api/v1/waste/upload-complete/:jobId',
    status: 'GET",route="/api/v1/waste/status/:jobId',
  };
  const out = {};
  for (const [name, frag] of Object.entries(routes)) {
    const pick = (suffix, le) =>
      Object.entries(counters)
        .filter(
          ([k]) =>
            k.startsWith(`http_request_duration_seconds_${suffix}{`) &&
            k.includes(`method="${frag}"`) &&
            (le === undefined || k.includes(`le="${le}"`)),
        )
        .reduce((a, [, v]) => a + v, 0);
    const count = pick('count');
    if (!count) continue;
    out[name] = {
      count,
      meanMs: round((pick('sum') / count) * 1000),
      le25: round((pick('bucket', '0.025') / count) * 100),
      le50: round((pick('bucket', '0.05') / count) * 100),
    };
  }
  return out;
}

export function summarise(phase, rec, check, stand, wallS) {
  const J = rec.journeys;
  const acc = J.filter((j) => j.accepted);
  const done = acc.filter((j) => j.db?.status === 'completed');
  const sse = done.filter((j) => j.follow === 'sse');
  const poll = done.filter((j) => j.follow === 'poll');
  const vision = done.filter((j) => j.timings?.visionMs != null);
  const hits = done.filter((j) => j.cache === 'exact' || j.cache === 'similar');
  const overhead = (j) => j.endMs - (j.timings?.visionMs ?? 0) - (j.timings?.coachingMs ?? 0);
  const serverOverhead = (j) =>
    (j.db?.total_ms ?? NaN) - (j.db?.vision_ms ?? 0) - (j.db?.coaching_ms ?? 0);
  const byPhoto = {};
  for (const kind of ['new', 'repeat', 'near']) {
    const js = done.filter((j) => j.photo === kind);
    byPhoto[kind] = {
      n: js.length,
      exact: js.filter((j) => j.cache === 'exact').length,
      similar: js.filter((j) => j.cache === 'similar').length,
      miss: js.filter((j) => j.cache === 'miss').length,
    };
  }
  const firstAccept = Math.min(...acc.map((j) => j.at));
  const lastEnd = Math.max(...done.map((j) => j.at + (j.endMs ?? 0)));
  const activeMin = Math.max(1e-9, (lastEnd - firstAccept) / 60_000);
  return {
    name: phase.name,
    users: { poll: phase.poll, sse: phase.sse },
    peakInFlight: rec.peakInFlight,
    peakStreams: rec.peakStreams,
    check,
    latency: {
      submit: dist(acc.map((j) => j.submitMs)),
      analyze: dist(acc.map((j) => j.analyzeMs)),
      upload: dist(acc.map((j) => j.uploadMs)),
      complete: dist(acc.map((j) => j.completeMs)),
      poll: dist(rec.polls),
      login: dist(rec.logins),
    },
    guidance: {
      sse: dist(sse.map((j) => j.guidanceMs)),
      poll: dist(poll.map((j) => j.guidanceMs)),
      sseMinusVision: dist(
        sse
          .filter((j) => j.timings?.visionMs != null)
          .map((j) => j.guidanceMs - j.timings.visionMs),
      ),
    },
    endToEnd: {
      sse: dist(sse.map((j) => j.endMs)),
      poll: dist(poll.map((j) => j.endMs)),
      server: dist(done.map((j) => j.db?.total_ms)),
    },
    overhead: {
      sse: dist(sse.map(overhead)),
      server: dist(done.map(serverOverhead)),
    },
    repeat: {
      sseEnd: dist(sse.filter((j) => hits.includes(j)).map((j) => j.endMs)),
      serverTotal: dist(hits.map((j) => j.db?.total_ms)),
    },
    vision: {
      workerMs: dist(vision.map((j) => j.timings.visionMs)),
      injectedMeanMs: stand.vision.answered
        ? round(stand.vision.injectedMs / stand.vision.answered)
        : null,
      calls: stand.vision.requests,
      answered: stand.vision.answered,
      faults: stand.vision.faults,
      jobsWithVision: vision.length,
    },
    llm: {
      calls: stand.llm.requests,
      answered: stand.llm.answered,
      injectedMeanMs: stand.llm.answered ? round(stand.llm.injectedMs / stand.llm.answered) : null,
      coaching: {
        llm: done.filter((j) => j.coaching === 'llm').length,
        rules: done.filter((j) => j.coaching === 'rules').length,
      },
    },
    stages: Object.fromEntries(
      [
        'queue',
        'download',
        'validate',
        'hash',
        'cache',
        'preprocess',
        'vision',
        'guidance',
        'coaching',
        'total',
      ].map((k) => [k, dist(done.map((j) => j.db?.stages?.[k]))]),
    ),
    throughputPerMin: round(done.length / activeMin),
    completionRate: acc.length ? round((done.length / acc.length) * 100, 2) : null,
    cache: {
      hitRate: done.length ? round((hits.length / done.length) * 100) : null,
      exact: done.filter((j) => j.cache === 'exact').length,
      similar: done.filter((j) => j.cache === 'similar').length,
      byPhoto,
    },
    clientErrors: Object.fromEntries([...rec.errors].sort((a, b) => b[1] - a[1]).slice(0, 12)),
    wallS,
  };
}

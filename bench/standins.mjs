// Stand-ins for the two third parties the pipeline calls, speaking their wire formats on
// 127.0.0.1, with the seed's latencies (uniformly random) and a fault switch:
//
//   - Roboflow hosted inference: POST /{project}/{version}?api_key=… with a base64 body →
//     detection JSON (box centres in pixels). Faults: 429 / 503 with Retry-After, or no answer.
//   - OpenAI Chat Completions: POST /v1/chat/completions with the coaching's strict JSON schema →
//     a Korean/English answer that names the allowed bin (the schema's `bins` enum), so the
//     coaching check accepts it.
//   - Control (GET /stats, POST /fault?target=vision&seconds=30&mode=mixed, POST /reset).
//
// Run as its own process (so its CPU is not the load generator's): it prints one JSON line with
// the three URLs on stdout, and exits on SIGTERM/SIGINT or when its parent goes away.
// Usage: node bench/standins.mjs --vision 2000-5000 --llm 3000-8000 [--key bench-key]
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const range = (s) => s.split('-').map(Number);
const [visionMin, visionMax] = range(arg('vision', '2000-5000'));
const [llmMin, llmMax] = range(arg('llm', '3000-8000'));
const API_KEY = arg('key', 'bench-key');

// TACO classes the pipeline maps (src/modules/recycling/data/label-maps/taco.yaml): the answer is
// drawn from the image's hash, so the same picture always gets the same labels.
const CLASSES = [
  'Clear plastic bottle',
  'Drink can',
  'Glass bottle',
  'Paper cup',
  'Drink carton',
  'Corrugated carton',
  'Plastic film',
  'Disposable plastic cup',
  'Food Can',
  'Foam food container',
  'Other plastic bottle',
  'Crisp packet',
  'Pizza box',
  'Battery',
  'Food waste',
  'Tissues',
];

const uniform = (min, max) => Math.round(min + Math.random() * (max - min));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function newStats() {
  return { requests: 0, answered: 0, injectedMs: 0, faults: { 429: 0, 503: 0, hang: 0 } };
}
const stats = { vision: newStats(), llm: newStats() };
/** Fault windows: target → { until, mode } (mode: mixed | 429 | 503 | hang). */
const faults = {};

function activeFault(target) {
  const f = faults[target];
  if (!f || Date.now() > f.until) return undefined;
  if (f.mode !== 'mixed') return f.mode;
  const r = Math.random();
  return r < 0.4 ? '429' : r < 0.8 ? '503' : 'hang';
}

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks);
}

function json(res, status, value, headers = {}) {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(value));
}

/** Holds the socket open without answering until the client gives up (or 60 s pass). */
function hang(req, res) {
  const t = setTimeout(() => res.destroy(), 60_000);
  req.socket.on('close', () => clearTimeout(t));
}

async function vision(req, res) {
  const raw = await body(req);
  const u = new URL(req.url ?? '/', 'http://x');
  const s = stats.vision;
  s.requests++;
  if (req.method !== 'POST' || !/^\/[\w-]+\/\d+$/.test(u.pathname)) {
    return json(res, 404, { message: `Model ${u.pathname.slice(1)} not found` });
  }
  if (u.searchParams.get('api_key') !== API_KEY) {
    return json(res, 401, { message: 'This API key does not exist (or has been revoked).' });
  }
  const fault = activeFault('vision');
  if (fault) {
    s.faults[fault]++;
    if (fault === 'hang') return hang(req, res);
    if (fault === '429') {
      return json(res, 429, { message: 'Rate limit exceeded' }, { 'Retry-After': '1' });
    }
    return json(res, 503, { message: 'Service temporarily unavailable' }, { 'Retry-After': '2' });
  }
  const image = Buffer.from(raw.toString('utf8'), 'base64');
  if (!image.length || image[0] !== 0xff) {
    return json(res, 400, { message: 'Could not decode the image' });
  }
  const delay = uniform(visionMin, visionMax);
  await sleep(delay);
  if (res.destroyed) return;
  s.answered++;
  s.injectedMs += delay;
  const h = createHash('sha1').update(image).digest();
  const n = 1 + (h[0] % 4 === 0 ? 1 : 0);
  const predictions = [];
  for (let i = 0; i < n; i++) {
    predictions.push({
      x: 160 + i * 300,
      y: 240,
      width: 200,
      height: 300,
      confidence: 0.7 + (h[2 + i] % 25) / 100,
      class: CLASSES[h[1 + i] % CLASSES.length],
      class_id: h[1 + i] % CLASSES.length,
      detection_id: `det-${i}`,
    });
  }
  json(
    res,
    200,
    {
      time: delay / 1000,
      inference_id: `inf-${s.answered}`,
      image: { width: 640, height: 480 },
      predictions,
    },
    { 'x-injected-latency-ms': String(delay) },
  );
}

/** An answer the coaching check accepts: names the allowed bins (the schema's enum) only. */
function coachingAnswer(payload) {
  const schema = payload.response_format?.json_schema?.schema;
  const bins = schema?.properties?.bins?.items?.enum ?? [];
  let locale = 'ko';
  try {
    const user = payload.messages.find((m) => m.role === 'user');
    locale = JSON.parse(user.content).locale ?? 'ko';
  } catch {
    /* keep ko */
  }
  const message =
    locale === 'en'
      ? `Put it in the ${bins.join(' and the ')}. Empty and rinse it first, then remove any labels.`
      : `${bins.join(', ')}에 버려 주세요. 먼저 내용물을 비우고 물로 헹궈 주세요.`;
  return { message, bins };
}

async function llm(req, res) {
  const raw = await body(req);
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const s = stats.llm;
  s.requests++;
  if (req.method !== 'POST' || !path.endsWith('/chat/completions')) {
    return json(res, 404, { error: { message: `Invalid URL (${req.method} ${path})` } });
  }
  let payload;
  try {
    payload = JSON.parse(raw.toString('utf8'));
  } catch {
    return json(res, 400, { error: { message: 'We could not parse the JSON body.' } });
  }
  const fault = activeFault('llm');
  if (fault) {
    s.faults[fault]++;
    if (fault === 'hang') return hang(req, res);
    const error = {
      message: fault === '429' ? 'Rate limit reached' : 'The engine is currently overloaded',
      type: fault === '429' ? 'requests' : 'server_error',
      param: null,
      code: fault === '429' ? 'rate_limit_exceeded' : null,
    };
    return json(res, Number(fault), { error }, { 'retry-after': '1', 'retry-after-ms': '1000' });
  }
  const delay = uniform(llmMin, llmMax);
  await sleep(delay);
  if (res.destroyed) return;
  s.answered++;
  s.injectedMs += delay;
  const content = JSON.stringify(coachingAnswer(payload));
  json(
    res,
    200,
    {
      id: `chatcmpl-${randomBytes(12).toString('base64url')}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: payload.model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content, refusal: null },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: { prompt_tokens: 200, completion_tokens: 60, total_tokens: 260 },
      system_fingerprint: 'fp_bench',
    },
    { 'openai-processing-ms': String(delay), 'x-injected-latency-ms': String(delay) },
  );
}

async function control(req, res) {
  const u = new URL(req.url ?? '/', 'http://x');
  await body(req);
  if (u.pathname === '/stats') return json(res, 200, stats);
  if (u.pathname === '/reset' && req.method === 'POST') {
    stats.vision = newStats();
    stats.llm = newStats();
    for (const k of Object.keys(faults)) delete faults[k];
    return json(res, 200, stats);
  }
  if (u.pathname === '/fault' && req.method === 'POST') {
    const target = u.searchParams.get('target') ?? 'vision';
    const seconds = Math.min(600, Number(u.searchParams.get('seconds') ?? 30));
    const mode = u.searchParams.get('mode') ?? 'mixed';
    faults[target] = { until: Date.now() + seconds * 1000, mode };
    return json(res, 200, { target, seconds, mode });
  }
  json(res, 404, { message: 'unknown' });
}

function serve(handler) {
  const server = createServer((req, res) => {
    handler(req, res).catch((err) => json(res, 500, { message: String(err) }));
  });
  server.keepAliveTimeout = 65_000;
  server.maxConnections = 5000;
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, port: server.address().port })),
  );
}

const servers = await Promise.all([serve(vision), serve(llm), serve(control)]);
const [v, l, c] = servers.map((s) => `http://127.0.0.1:${s.port}`);
process.stdout.write(
  `${JSON.stringify({ visionUrl: v, llmUrl: `${l}/v1`, controlUrl: c, apiKey: API_KEY })}\n`,
);

const stop = () => {
  for (const { server } of servers) server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Bounded: never outlives the bench that started it.
process.on('disconnect', stop);
setInterval(() => {
  if (process.ppid === 1) stop();
}, 2000).unref();
setTimeout(stop, Number(arg('max-seconds', '3600')) * 1000).unref();

// Per-request cost (issue 12, item 3), against references measured in the same run:
//
//   1. CPU per request, sequential and warmed, of the API process (split topology, so the
//      workers' pipeline work is not counted): each request is bracketed by /proc readings of
//      the api process and the brackets are summed (10 ms ticks: an unbiased sum over many
//      requests), minus the process's idle rate.
//   2. Throughput with autocannon (10 connections) of GET /health/live and GET /waste/status/{id}
//      next to "hello" servers in their own processes: bare node:http, bare Fastify, NestJS 11 on
//      Express and on Fastify (bench/lib/hello.mjs).
//
//   npx nest build && node bench/requests.bench.mjs [--requests 300] [--warmup 30] [--seconds 8]
//   [--only status,me]
//   [--dist <another build's dist/, for a before/after>]
//   [--no-throughput]
//   [--throughput-of health|status: only that endpoint of ours under autocannon, no references,
//   with the api's CPU per request and GC under load (to profile it with BENCH_NODE_ARGS)]
//   [--pause-workers: the worker roles stopped (SIGSTOP) while the sequential requests run, so
//   upload-complete's jobs are not processed beside it and its wall time is its own]
//   [--floor: also the CPU per request of the hello servers, measured the same way: what a bare
//   node:http answer, and one with a status poll's Redis round trip, cost on this machine]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { photoPool } from './lib/photos.mjs';
import { stat } from './lib/procs.mjs';
import { round, table } from './lib/stats.mjs';
import { log, root, startStandins, System } from './lib/sut.mjs';
import { freePort, isolate, machine, sleep, snapshotDist } from './lib/system.mjs';
import { Driver, Recorder } from './lib/vu.mjs';

const argv = process.argv.slice(2);
const opt = (n, d) => (argv.includes(`--${n}`) ? argv[argv.indexOf(`--${n}`) + 1] : d);
const N = Number(opt('requests', '300'));
const ONLY = opt('only')?.split(',');
const SECONDS = Number(opt('seconds', '8'));
// 30 calls reach the handlers' code, but V8 is still optimizing it (on its compiler threads,
// whose CPU the process's figure includes) for a few hundred more: --warmup 500 measures the
// steady state.
const WARMUP = Number(opt('warmup', '30'));

const cpuOf = async (pid) => (await stat(pid))?.cpuS ?? NaN;
const sysOf = async (pid) => (await stat(pid))?.sysS ?? NaN;

/** App CPU ms per call of `fn` (bracketed, summed), minus the idle rate over the same time. */
async function perRequest(pid, idleMsPerS, n, prepare, fn) {
  for (let i = 0; i < WARMUP; i++) await fn(await prepare(i)); // warm-up
  let cpu = 0;
  let sys = 0;
  let wall = 0;
  for (let i = 0; i < n; i++) {
    const arg = await prepare(i);
    const t0 = performance.now();
    const [c0, s0] = [await cpuOf(pid), await sysOf(pid)];
    await fn(arg);
    const [c1, s1] = [await cpuOf(pid), await sysOf(pid)];
    const dt = performance.now() - t0;
    cpu += (c1 - c0) * 1000 - (idleMsPerS * dt) / 1000;
    sys += (s1 - s0) * 1000;
    wall += dt;
  }
  return {
    cpuMs: round(Math.max(0, cpu / n), 2),
    sysMs: round(sys / n, 2),
    wallMs: round(wall / n, 2),
  };
}

function cannon(url, headers = {}) {
  return new Promise((resolve, reject) =>
    autocannon({ url, connections: 10, duration: SECONDS, headers }, (err, res) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

async function hello(kind) {
  const port = await freePort();
  const child = spawn(process.execPath, [join(root, 'bench', 'lib', 'hello.mjs'), kind, port], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  await once(createInterface({ input: child.stdout }), 'line');
  const res = await cannon(`http://127.0.0.1:${port}/`);
  child.kill('SIGTERM');
  return res;
}

/** CPU per request of a hello server (bench/lib/hello.mjs), measured like ours. */
async function helloCpu(kind, d, n) {
  const port = await freePort();
  const child = spawn(process.execPath, [join(root, 'bench', 'lib', 'hello.mjs'), kind, port], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  try {
    await once(createInterface({ input: child.stdout }), 'line');
    const c0 = await cpuOf(child.pid);
    await sleep(3000);
    const idle = (((await cpuOf(child.pid)) - c0) * 1000) / 3;
    const url = `http://127.0.0.1:${port}/`;
    return await perRequest(
      child.pid,
      idle,
      n,
      async () => undefined,
      async () => {
        const r = await d.call('GET', url);
        if (r.status !== 200) throw new Error(`hello ${kind}: ${r.status}`);
      },
    );
  } finally {
    child.kill('SIGTERM');
  }
}

async function throughput(base, jobId, token) {
  const tput = {};
  const of = opt('throughput-of');
  if (of) {
    const url = of === 'health' ? `${base}/health/live` : `${base}/api/v1/waste/status/${jobId}`;
    tput[`ours: ${of}`] = (
      await cannon(url, { authorization: `Bearer ${token}` })
    ).requests.average;
    log(`ours: ${of}: ${tput[`ours: ${of}`]} req/s`);
    return tput;
  }
  for (const kind of ['node', 'fastify', 'nest-express', 'nest-fastify']) {
    tput[`hello: ${kind}`] = (await hello(kind)).requests.average;
    log(`hello ${kind}: ${tput[`hello: ${kind}`]} req/s`);
  }
  tput['ours: GET /health/live'] = (await cannon(`${base}/health/live`)).requests.average;
  const st = await cannon(`${base}/api/v1/waste/status/${jobId}`, {
    authorization: `Bearer ${token}`,
  });
  if (st.non2xx) throw new Error(`status under autocannon: ${st.non2xx} non-2xx`);
  tput['ours: GET /waste/status/{id}'] = st.requests.average;
  return tput;
}

async function main() {
  const m = await machine(root);
  log(`requests bench on ${m.cpus} × ${m.model}, commit ${m.commit}, load ${m.loadavg}`);
  const iso = await isolate(root);
  const S = { vision: '50-50', llm: '50-50', visionTimeoutMs: 5000 };
  let sys;
  let standins;
  try {
    const distDir = await snapshotDist(
      root,
      iso.work,
      opt('dist') ? resolve(root, opt('dist')) : undefined,
    );
    const pool = await photoPool(root, 8);
    standins = await startStandins(S);
    sys = new System(iso, distDir, standins, S);
    await sys.start('split');
    const api = sys.role('api');
    log(`system up (split) at ${sys.base}`);
    const d = new Driver({
      base: sys.base,
      rec: new Recorder(),
      followTimeoutMs: 30_000,
      photos: { pick: () => ({ kind: 'new', bytes: pool.originals[0] }), completed() {} },
    });
    const token = await d.login();
    // A completed job to poll.
    const job = { follow: 'poll' };
    await d.submit(job, token, d.photos.pick());
    await d.poll(job, token);
    if (job.status !== 'completed') throw new Error(`setup job ended ${job.status}`);
    const polled = await d.call('GET', `/waste/status/${job.jobId}`, { token });
    log(`the polled job's answer: ${Buffer.byteLength(polled.text)} bytes`);
    const c0 = await cpuOf(api.pid);
    await sleep(3000);
    const idleMsPerS = (((await cpuOf(api.pid)) - c0) * 1000) / 3;
    const none = async () => undefined;
    const expect = (status) => (r) => {
      if (r.status !== status) throw new Error(`expected ${status}, got ${r.status}: ${r.text}`);
    };
    const photo = pool.originals[1];
    const uploaded = async () => {
      const a = await d.call('POST', '/waste/analyze', {
        token,
        body: { contentType: 'image/jpeg', contentLength: photo.length, locale: 'ko' },
      });
      const u = new URL(a.json.upload.url);
      await d.call('PUT', `${sys.base}${u.pathname}${u.search}`, {
        headers: a.json.upload.headers,
        body: photo,
        raw: true,
      });
      return a.json.jobId;
    };
    const endpoints = {
      'GET /health/live': [none, () => d.call('GET', `${sys.base}/health/live`).then(expect(200))],
      'GET /waste/status/{id}': [
        none,
        () => d.call('GET', `/waste/status/${job.jobId}`, { token }).then(expect(200)),
      ],
      'GET /users/me': [none, () => d.call('GET', '/users/me', { token }).then(expect(200))],
      'GET /recycling/categories': [
        none,
        () => d.call('GET', '/recycling/categories', { token }).then(expect(200)),
      ],
      'POST /auth/guest': [
        none,
        () => d.call('POST', '/auth/guest', { body: {} }).then(expect(201)),
      ],
      'POST /waste/analyze': [
        none,
        () =>
          d
            .call('POST', '/waste/analyze', {
              token,
              body: { contentType: 'image/jpeg', contentLength: photo.length, locale: 'ko' },
            })
            .then(expect(201)),
      ],
      'POST /waste/upload-complete/{id}': [
        uploaded,
        (id) => d.call('POST', `/waste/upload-complete/${id}`, { token }).then(expect(202)),
      ],
    };
    const seq = {};
    const workers = sys.roles.filter((r) => r !== api);
    if (argv.includes('--pause-workers')) for (const w of workers) process.kill(w.pid, 'SIGSTOP');
    for (const [name, [prepare, fn]] of Object.entries(endpoints)) {
      if (ONLY && !ONLY.some((o) => name.includes(o))) continue;
      seq[name] = await perRequest(api.pid, idleMsPerS, N, prepare, fn);
      log(
        `${name}: ${seq[name].cpuMs} ms CPU (${seq[name].sysMs} in the kernel), ${seq[name].wallMs} ms wall`,
      );
    }
    if (argv.includes('--pause-workers')) for (const w of workers) process.kill(w.pid, 'SIGCONT');
    if (argv.includes('--floor')) {
      for (const kind of ['node', 'node-redis', 'fastify', 'nest-fastify']) {
        const name = `hello: ${kind}`;
        seq[name] = await helloCpu(kind, d, N);
        log(`${name}: ${seq[name].cpuMs} ms CPU (${seq[name].sysMs} in the kernel)`);
      }
    }
    await d.close();
    // Throughput: references first, then ours, each in its own process.
    const gc = async () =>
      Object.fromEntries(
        [
          ...(await (await fetch(`http://127.0.0.1:${api.metricsPort}/metrics`)).text()).matchAll(
            /^nodejs_(?:gc_duration_seconds_(sum|count)\{kind|heap_space_size_(total)_bytes\{space)="(\w+)"\} (\S+)$/gm,
          ),
        ]
          .filter(([, gc, , kind]) => gc || kind === 'new')
          .map(([, gc, total, kind, v]) => [`${kind} ${gc ?? total}`, Number(v)]),
      );
    const gc0 = await gc();
    const cpu0 = await cpuOf(api.pid);
    const tput = argv.includes('--no-throughput')
      ? {}
      : await throughput(sys.base, job.jobId, token);
    if (opt('throughput-of')) {
      const cpuMs = ((await cpuOf(api.pid)) - cpu0) * 1000;
      const n = Object.values(tput)[0] * SECONDS;
      log(`api CPU under load: ${round((cpuMs / n) * 1000, 1)} µs per request`);
      const gc1 = await gc();
      log(
        `api GC during it: ${Object.keys(gc1)
          .map((k) =>
            k.endsWith(' total')
              ? `new space ${round(gc1[k] / 2 ** 20, 1)} MB`
              : `${k} ${round(gc1[k] - (gc0[k] ?? 0), 3)}`,
          )
          .join(', ')}`,
      );
    }
    const ref = tput['hello: node'];
    console.log(
      `\nMachine: ${m.cpus} × ${m.model}, Node ${m.node}, load ${m.loadavg} at start; commit ${m.commit}${m.dirty ? ' (+ uncommitted src changes)' : ''}; api process idle ${round(idleMsPerS, 2)} ms CPU/s (subtracted).\n`,
    );
    console.log(
      table([
        ['request (sequential, warmed)', 'API CPU ms / request', 'of it in the kernel', 'wall ms'],
        ...Object.entries(seq).map(([k, v]) => [k, v.cpuMs, v.sysMs, v.wallMs]),
      ]),
    );
    if (ref) console.log('');
    if (ref)
      console.log(
        table([
          [`autocannon, 10 connections, ${SECONDS} s`, 'req/s', '÷ bare node:http'],
          ...Object.entries(tput).map(([k, v]) => [k, round(v), `${round((v / ref) * 100)} %`]),
        ]),
      );
  } finally {
    if (sys) await sys.stopAll().catch(() => {});
    standins?.child.kill('SIGTERM');
    await iso.cleanup().catch((e) => console.error('cleanup:', e.message));
  }
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});

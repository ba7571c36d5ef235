// CPU an API process spends refusing hostile JSON bodies (issue: abuse resistance, item 1).
// Spawns the compiled `api` role against an isolated database/vhost/Redis, sends each body
// `--n` times (sequentially, one connection), and reads the process's CPU time (utime+stime
// from /proc) before and after: CPU per request and per KB of body, plus the answer's status,
// code and size. Run `npm run build` first.
//
// Usage: node bench/hostile-bodies.bench.mjs [--n 200]
import { execFileSync, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, isolate, procSample, Role, waitReady } from './lib/system.mjs';
import { round } from './lib/stats.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const n = Number(process.argv[process.argv.indexOf('--n') + 1] || 200);
// Phase 2: `--attackers` clients each send the nested body at `--rate` req/s for `--seconds`
// while one client polls /health/live; its latency is what a bystander feels.
const arg = (name, dflt) =>
  process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : dflt;
const attackers = arg('--attackers', 8);
const rate = arg('--rate', 5);
const seconds = arg('--seconds', 10);

const KB = 1024;
const bodies = {
  'nested 120,000 deep (240 KB)': '['.repeat(120_000) + ']'.repeat(120_000),
  'flat object, 19,000 keys (~240 KB)': JSON.stringify(
    Object.fromEntries(Array.from({ length: 19_000 }, (_, i) => [`k${i}`, 1])),
  ),
  'array of 60,000 empty objects (240 KB)': `[${Array(60_000).fill('{}').join(',')}]`,
  '240 KB string with a NUL escape at the end': JSON.stringify({
    deviceId: 'a'.repeat(240 * KB) + '\u0000',
  }),
  'malformed, 240 KB': `{"deviceId":"${'a'.repeat(240 * KB)}`,
  '300 KB (over the size limit)': JSON.stringify({ deviceId: 'a'.repeat(300 * KB) }),
  '60 unknown keys (under the key limit)': JSON.stringify(
    Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, 1])),
  ),
  'array of 2,000 numbers in an unknown field (under the member limit)': JSON.stringify({
    ids: Array(2_000).fill(1),
  }),
  'small valid guest login {} (baseline)': '{}',
};

const iso = await isolate(root);
const env = {
  PATH: process.env.PATH,
  ...iso.env,
  JWT_SECRET: 'hostile-bench-secret-hostile-bench-0123',
  LOG_LEVEL: 'warn',
  // The bench measures parsing, not the limiter: lift the login limit out of the way.
  RATE_LIMIT_LOGIN_PER_IP: '0',
};
const rows = [];
let role;
let phase2;
let port;
try {
  execFileSync(process.execPath, [join(root, 'dist/core/database/migrate.js')], {
    env,
    stdio: 'pipe',
  });
  port = await freePort();
  const metricsPort = await freePort();
  role = new Role('api', () =>
    spawn(process.execPath, [join(root, 'dist/main.js')], {
      env: { ...env, APP_ROLE: 'api', PORT: String(port), METRICS_PORT: String(metricsPort) },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  role.start();
  await waitReady(metricsPort, role);
  const url = `http://127.0.0.1:${port}/api/v1/auth/guest`;
  for (const [name, body] of Object.entries(bodies)) {
    const send = () =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const first = await send();
    const answer = await first.text();
    const code = answer.startsWith('{') ? (JSON.parse(answer).code ?? '-') : '-';
    // Warm-up, then measure.
    for (let i = 0; i < 10; i++) await (await send()).arrayBuffer();
    const before = await procSample(role.pid);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await (await send()).arrayBuffer();
    const wall = performance.now() - t0;
    const after = await procSample(role.pid);
    const cpuMs = ((after.cpuS - before.cpuS) * 1000) / n;
    const kb = Buffer.byteLength(body) / KB;
    rows.push({
      name,
      kb: round(kb, 1),
      status: first.status,
      code,
      answerBytes: answer.length,
      cpuMsPerReq: round(cpuMs, 2),
      cpuMsPerKb: round(cpuMs / Math.max(kb, 1), 4),
      wallMsPerReq: round(wall / n, 2),
    });
  }
  // Phase 2: hostile clients and a bystander.
  const deep = bodies['nested 120,000 deep (240 KB)'];
  const stopAt = performance.now() + seconds * 1000;
  const attacker = async () => {
    while (performance.now() < stopAt) {
      const t = performance.now();
      await (
        await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: deep,
        })
      ).arrayBuffer();
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 / rate - (performance.now() - t))));
    }
  };
  const health = [];
  const bystander = async () => {
    while (performance.now() < stopAt) {
      const t = performance.now();
      await (await fetch(`http://127.0.0.1:${port}/health/live`)).arrayBuffer();
      health.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const cpuBefore = await procSample(role.pid);
  await Promise.all([...Array.from({ length: attackers }, attacker), bystander()]);
  const cpuAfter = await procSample(role.pid);
  health.sort((a, b) => a - b);
  const q = (p) => health[Math.min(health.length - 1, Math.floor((p / 100) * health.length))];
  phase2 = {
    health: {
      n: health.length,
      p50: round(q(50), 1),
      p99: round(q(99), 1),
      max: round(health.at(-1), 1),
    },
    cpu: round(((cpuAfter.cpuS - cpuBefore.cpuS) / seconds) * 100, 0),
  };
} finally {
  await role?.stop('SIGTERM');
  await iso.cleanup();
}
console.log(
  `POST /api/v1/auth/guest, ${n} requests each, one connection, API process CPU (utime+stime)\n`,
);
console.log('| body | KB | status | code | answer bytes | CPU ms/req | CPU ms/KB | wall ms/req |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.name} | ${r.kb} | ${r.status} | ${r.code} | ${r.answerBytes} | ${r.cpuMsPerReq} | ${r.cpuMsPerKb} | ${r.wallMsPerReq} |`,
  );
}
console.log(
  `\n${attackers} clients × ${rate} req/s of the nested body for ${seconds} s, one bystander polling /health/live:` +
    ` p50 ${phase2.health.p50} ms, p99 ${phase2.health.p99} ms, max ${phase2.health.max} ms` +
    ` (${phase2.health.n} polls); API process CPU ${phase2.cpu} % of one core`,
);

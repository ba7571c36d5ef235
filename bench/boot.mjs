// Boot time and memory of each role, from the compiled image: spawn → /health/ready answers 200,
// then RSS once idle. Each role is started `--runs` times (default 3), one at a time, against an
// isolated database, vhost and private Redis. Run `npm run build` first.
//
// Usage: node bench/boot.mjs [--runs 3]
import { execFileSync, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, isolate, procSample, Role, sleep, waitReady } from './lib/system.mjs';
import { dist as distribution, round } from './lib/stats.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] || 3);
const iso = await isolate(root);
const env = {
  PATH: process.env.PATH,
  ...iso.env,
  JWT_SECRET: 'boot-bench-secret-boot-bench-secret-0123',
  LOG_LEVEL: 'warn',
};
const results = {};
try {
  execFileSync(process.execPath, [join(root, 'dist/core/database/migrate.js')], {
    env,
    stdio: 'pipe',
  });
  for (const roleName of ['api', 'fast', 'external', 'bulk', 'beat', 'all']) {
    const boots = [];
    const rss = [];
    for (let i = 0; i < runs; i++) {
      const metricsPort = await freePort();
      const port = await freePort();
      const script = roleName === 'api' || roleName === 'all' ? 'dist/main.js' : 'dist/worker.js';
      const role = new Role(roleName, () =>
        spawn(process.execPath, [join(root, script)], {
          env: {
            ...env,
            APP_ROLE: roleName,
            PORT: String(port),
            METRICS_PORT: String(metricsPort),
            LOCATIONS_SAMPLE_DATA: 'false',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      );
      const started = performance.now();
      role.start();
      await waitReady(metricsPort, role);
      boots.push(performance.now() - started);
      await sleep(1000);
      rss.push((await procSample(role.pid)).rssMb);
      await role.stop('SIGTERM');
    }
    results[roleName] = { bootMs: distribution(boots), rssMb: distribution(rss) };
  }
} finally {
  await iso.cleanup();
}
console.log('| role | boot to ready p50 (ms) | max (ms) | idle RSS p50 (MB) |\n|---|---|---|---|');
for (const [r, v] of Object.entries(results)) {
  console.log(
    `| ${r} | ${round(v.bootMs.p50, 0)} | ${round(v.bootMs.max, 0)} | ${round(v.rssMb.p50, 0)} |`,
  );
}

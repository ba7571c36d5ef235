// Preload for a role under test (BENCH_NODE_ARGS="--require ./bench/lib/trace.cjs"): times a few
// methods of the compiled app without changing it, and writes p50/p95/p99 per method to
// $BENCH_TRACE_DIR/<role>-<pid>.json every 2 s. Diagnosis only.
const Module = require('node:module');
const { writeFileSync, mkdirSync } = require('node:fs');
const { join } = require('node:path');

const TARGETS = {
  TaskPublisher: ['publish'],
  JobsService: [
    'announced',
    'getOwned',
    'get',
    'insert',
    'readView',
    'markQueued',
    'startStage',
    'recordVisionGuidance',
    'saveCoaching',
    'complete',
  ],
  AnalysisService: ['analyze', 'uploadComplete'],
};
const times = {};
const original = Module._load;
Module._load = function load(request, ...rest) {
  const exports = original.call(this, request, ...rest);
  for (const [cls, methods] of Object.entries(TARGETS)) {
    const C = exports?.[cls];
    if (typeof C !== 'function' || C.__benchTraced) continue;
    C.__benchTraced = true;
    for (const m of methods) {
      const fn = C.prototype[m];
      if (typeof fn !== 'function') continue;
      const key = `${cls}.${m}`;
      C.prototype[m] = async function traced(...args) {
        const t = process.hrtime.bigint();
        try {
          return await fn.apply(this, args);
        } finally {
          (times[key] ??= []).push(Number(process.hrtime.bigint() - t) / 1e6);
        }
      };
    }
  }
  return exports;
};

// Written every 2 s (a role shut down by a signal exits without an 'exit' event).
function dump() {
  const dir = process.env.BENCH_TRACE_DIR;
  if (!dir) return;
  const q = (v, p) => v[Math.min(v.length - 1, Math.ceil((p / 100) * v.length) - 1)];
  const out = {};
  for (const [k, v] of Object.entries(times)) {
    v.sort((a, b) => a - b);
    out[k] = { n: v.length, p50: q(v, 50), p95: q(v, 95), p99: q(v, 99) };
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${process.env.APP_ROLE}-${process.pid}.json`), JSON.stringify(out));
}
setInterval(dump, 2000).unref();
process.on('exit', dump);

// BENCH_NODELAY=1: every TCP socket with Nagle's algorithm off (amqplib leaves it on unless the
// connection is opened with { noDelay: true }), to test whether publisher confirms wait on it.
if (process.env.BENCH_NODELAY === '1') {
  const net = require('node:net');
  const setNoDelay = net.Socket.prototype.setNoDelay;
  net.Socket.prototype.setNoDelay = function noDelay() {
    return setNoDelay.call(this, true);
  };
}

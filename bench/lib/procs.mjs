// CPU and memory of groups of processes from /proc, for "CPU ms per job per process": a meter
// follows a set of pids found by a function (a process group, PostgreSQL backends of one database,
// the broker) and sums each pid's CPU over the window, including pids that appear or exit
// during it (their last sample counts).
import { readdir, readFile } from 'node:fs/promises';

const TICK = 100; // USER_HZ on Linux
const PAGE_KB = 4;

/** /proc/<pid>/stat: { ppid, pgrp, cpuS (utime + stime), sysS (stime), rssMb, comm } or undefined. */
export async function stat(pid) {
  try {
    const s = await readFile(`/proc/${pid}/stat`, 'utf8');
    const comm = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return {
      pid,
      comm,
      ppid: Number(f[1]),
      pgrp: Number(f[2]),
      cpuS: (Number(f[11]) + Number(f[12])) / TICK,
      sysS: Number(f[12]) / TICK,
      rssMb: (Number(f[21]) * PAGE_KB) / 1024,
    };
  } catch {
    return undefined;
  }
}

export async function allProcs() {
  const names = await readdir('/proc');
  const out = await Promise.all(names.filter((n) => /^\d+$/.test(n)).map((n) => stat(Number(n))));
  return out.filter(Boolean);
}

/** Pids of every process in process group `pgid`. */
export const groupPids = (pgid) => async () =>
  (await allProcs()).filter((p) => p.pgrp === pgid).map((p) => p.pid);

/** Pids of processes whose command name is `comm` (e.g. beam.smp: the shared broker). */
export const commPids = (comm) => async () =>
  (await allProcs()).filter((p) => p.comm === comm).map((p) => p.pid);

/** PostgreSQL backends connected to database `name` (one process per connection). */
export const pgBackends = (db, name) => async () =>
  (await db.query('SELECT pid FROM pg_stat_activity WHERE datname = $1', [name])).rows.map(
    (r) => r.pid,
  );

/** Machine-wide busy CPU seconds so far (all cores), from /proc/stat. */
export async function machineBusyS() {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0];
  const [user, nice, system, , , irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) / TICK;
}

export class Meter {
  /** @param {() => Promise<number[]>} pids */
  constructor(name, pids) {
    this.name = name;
    this.pidsFn = pids;
    this.reset();
  }

  /** Starts a window: CPU counted from now, RSS max from now. */
  async begin() {
    this.reset();
    const seen = await this.read();
    for (const s of seen) this.first.set(s.pid, s.cpuS);
  }

  reset() {
    this.first = new Map(); // pid → CPU at the start of the window (0 for pids born later)
    this.last = new Map();
    this.maxRssMb = 0;
  }

  async read() {
    let pids = [];
    try {
      pids = await this.pidsFn();
    } catch {
      /* e.g. the database is gone */
    }
    return (await Promise.all(pids.map(stat))).filter(Boolean);
  }

  async sample() {
    const seen = await this.read();
    let rss = 0;
    for (const s of seen) {
      if (!this.first.has(s.pid)) this.first.set(s.pid, 0);
      this.last.set(s.pid, s.cpuS);
      rss += s.rssMb;
    }
    this.maxRssMb = Math.max(this.maxRssMb, rss);
  }

  /** CPU seconds used by the group within the window (call sample() first). */
  cpuS() {
    let t = 0;
    for (const [pid, last] of this.last) t += Math.max(0, last - (this.first.get(pid) ?? 0));
    return t;
  }
}

import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { waitFor } from './amqp';

const ROOT = join(__dirname, '..', '..');

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export interface RoleProcess {
  role: string;
  proc: ChildProcess;
  port: number;
  metricsPort: number;
  url: string;
  output: () => string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs a role from the compiled image (dist/), as production does, and waits until it is ready. */
export async function startRole(role: string, env: Record<string, string>): Promise<RoleProcess> {
  const port = await freePort();
  const metricsPort = await freePort();
  const script = role === 'api' || role === 'all' ? 'dist/main.js' : 'dist/worker.js';
  const proc = spawn(process.execPath, [join(ROOT, script)], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      ...env,
      APP_ROLE: role,
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20000)));
  proc.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20000)));
  const rp: RoleProcess = {
    role,
    proc,
    port,
    metricsPort,
    url: `http://127.0.0.1:${port}`,
    output: () => out,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill(signal);
      await exited;
    },
  };
  try {
    await waitFor(
      `${role} ready`,
      async () => {
        if (proc.exitCode !== null) throw new Error(`${role} exited ${proc.exitCode}: ${out}`);
        const res = await fetch(`http://127.0.0.1:${metricsPort}/health/ready`).catch(
          () => undefined,
        );
        return res?.status === 200;
      },
      30_000,
      100,
    );
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  return rp;
}

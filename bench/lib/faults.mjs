// The fault scenarios (docs/benchmarks.md, "Fault scenarios"): each is injected under load and
// returns a description of what was done.
import { round } from './stats.mjs';
import { rabbitmqctl, sleep } from './system.mjs';

/** opts.sharedFaults: stop_app/start_app the shared broker instead of cutting off the vhost. */
export async function inject(fault, sys, standins, phase, opts = {}) {
  switch (fault) {
    case 'kill-workers': {
      const times = phase.kills ?? 3;
      for (let i = 0; i < times; i++) {
        if (i) await sleep(8000);
        await Promise.all([sys.replace('fast', 'kill'), sys.replace('external', 'kill')]);
      }
      return `SIGKILL fast and external mid-run, ${times} times 8 s apart; new processes started 2 s after each kill`;
    }
    case 'rabbitmq-restart': {
      if (opts.sharedFaults) {
        const down = Date.now();
        try {
          rabbitmqctl('stop_app');
          await sleep(5000);
        } finally {
          rabbitmqctl('start_app');
        }
        return `rabbitmqctl stop_app, 5 s, start_app: the shared broker (every vhost) down ${round((Date.now() - down) / 1000)} s`;
      }
      // This run's vhost only: revoke access and drop every connection, so reconnects are
      // refused for 10 s as during a broker restart; durable queues and persistent messages stay.
      rabbitmqctl('clear_permissions', '-p', sys.iso.vhost, 'guest');
      rabbitmqctl('close_all_connections', '--vhost', sys.iso.vhost, 'bench: broker restart');
      await sleep(10_000);
      rabbitmqctl('set_permissions', '-p', sys.iso.vhost, 'guest', '.*', '.*', '.*');
      return 'vhost cut off: permissions revoked + all connections closed for 10 s, then restored (the shared broker itself stays up)';
    }
    case 'redis-stop': {
      await sys.iso.redis.stop();
      await sleep(10_000);
      await sys.iso.redis.start();
      return 'private redis-server: SHUTDOWN SAVE, down 10 s, started again on the same port and RDB';
    }
    case 'vision-faults': {
      const seconds = phase.faultSeconds ?? 30;
      await standins.ctl(`/fault?target=vision&seconds=${seconds}&mode=mixed`, 'POST');
      await sleep(seconds * 1000);
      return `stand-in vision answers 429 (Retry-After 1) / 503 (Retry-After 2) / never (timeout) for ${seconds} s`;
    }
    case 'rolling-sigterm': {
      for (const name of ['fast', 'external', 'bulk', 'beat']) await sys.replace(name, 'rolling');
      return 'rolling update: for each worker role, start a new process, then SIGTERM the old one';
    }
    default:
      throw new Error(`unknown fault ${fault}`);
  }
}

export const EXPECTED_FAILURES = {
  'vision-faults': ['VISION_UNAVAILABLE', 'TIMEOUT'],
};

import amqp from 'amqplib';
import { parseArgs } from 'node:util';
import { ConfigError } from '../core/config/app-config';
import { envSchema } from '../core/config/env.schema';
import { DlqEntry } from '../modules/maintenance/dlq/dlq-message';
import { DlqService } from '../modules/maintenance/dlq/dlq.service';

const USAGE = `usage: npm run dlq -- <command> [options]

Dead letters in q.dlq on RABBITMQ_URL (docs/operations.md → Dead letters).

commands:
  list [--limit N]        the oldest N messages (default 100); nothing is removed
  show <id>               one message with its headers and properties
  replay <id...>          republish to its original routing key (x-attempt back to 1)
  replay --all            every message in q.dlq
  purge <id...>           delete these messages
  purge --all             delete every message in q.dlq
  depth                   how many messages q.dlq holds

options:
  --dry-run               replay/purge: say what would be touched, change nothing
  --json                  machine-readable output
  -h, --help

<id> is the message id (properties.messageId), or sha256:<hex> for a message without one.
`;

function table(entries: DlqEntry[]): string {
  const rows = entries.map((e) => [
    e.id,
    e.routingKey ?? '?',
    e.reason,
    e.where ?? '',
    e.failedAt ?? '',
    (e.error ?? '').replace(/\s+/g, ' ').slice(0, 80),
  ]);
  const head = ['ID', 'ROUTING KEY', 'REASON', 'WHERE', 'FAILED AT', 'ERROR'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [head, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * Only RABBITMQ_URL, validated as the app validates it: the tool must work from any pod, whose
 * environment may lack what other roles need (provider keys, …).
 */
function rabbitUrl(): string {
  const parsed = envSchema.shape.RABBITMQ_URL.safeParse(process.env.RABBITMQ_URL);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `RABBITMQ_URL: ${i.message}`));
  }
  return parsed.data;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      limit: { type: 'string', default: '100' },
      all: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...ids] = positionals;
  if (values.help || !command) {
    (values.help ? process.stdout : process.stderr).write(USAGE);
    return values.help ? 0 : 2;
  }
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) {
    console.error(`--limit must be a positive whole number (got "${values.limit}")`);
    return 2;
  }
  const needsSelection = command === 'replay' || command === 'purge';
  if (needsSelection && !values.all && !ids.length) {
    console.error(`${command}: give message ids or --all`);
    return 2;
  }
  if (needsSelection && values.all && ids.length) {
    console.error(`${command}: message ids and --all are mutually exclusive`);
    return 2;
  }
  const dryRun = values['dry-run'];
  const would = dryRun ? 'would be ' : '';
  if (!['list', 'show', 'replay', 'purge', 'depth'].includes(command)) {
    process.stderr.write(`unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  if (command === 'show' && ids.length !== 1) {
    console.error('show: give exactly one message id');
    return 2;
  }

  const conn = await amqp.connect(rabbitUrl());
  conn.on('error', () => undefined);
  const dlq = new DlqService(() => conn);
  const print = (value: unknown, text: () => string) =>
    process.stdout.write(`${values.json ? JSON.stringify(value, null, 2) : text()}\n`);
  try {
    switch (command) {
      case 'depth': {
        const depth = await dlq.depth();
        print({ depth }, () => String(depth));
        return 0;
      }
      case 'list': {
        const list = await dlq.list(limit);
        print(
          list,
          () =>
            `q.dlq holds ${list.depth} message(s); showing ${list.messages.length}\n` +
            (list.messages.length ? table(list.messages) : ''),
        );
        return 0;
      }
      case 'show': {
        const entry = await dlq.show(ids[0]);
        if (!entry) {
          console.error(`no message ${ids[0]} in q.dlq`);
          return 1;
        }
        process.stdout.write(`${JSON.stringify(entry, null, 2)}\n`);
        return 0;
      }
      case 'replay': {
        const report = await dlq.replay(values.all ? { all: true } : { ids }, { dryRun });
        print(report, () =>
          [
            `${would}replayed ${report.replayed.length}`,
            ...report.replayed.map((r) => `  ${r.id} → ${r.routingKey}`),
            ...report.skipped.map((s) => `skipped ${s.id}: ${s.reason}`),
            ...report.notFound.map((id) => `not found: ${id}`),
          ].join('\n'),
        );
        return report.skipped.length || report.notFound.length ? 1 : 0;
      }
      default: {
        const report = await dlq.purge(values.all ? { all: true } : { ids }, { dryRun });
        print(report, () =>
          [
            `${would}purged ${report.purged}`,
            ...report.ids.map((id) => `  ${id}`),
            ...report.notFound.map((id) => `not found: ${id}`),
          ].join('\n'),
        );
        return report.notFound.length ? 1 : 0;
      }
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
}

// exitCode, not exit(): a large listing piped to another program is flushed before the end.
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof ConfigError ? err.message : `dlq: ${String(err)}`);
    process.exitCode = 1;
  },
);

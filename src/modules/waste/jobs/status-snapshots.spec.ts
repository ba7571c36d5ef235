import { AppConfig } from '../../../core/config/app-config';
import type { ChannelHandler, RedisSubscriber } from '../../../core/redis/redis-subscriber';
import { JobEntity } from './job.entity';
import { JobsService, snapshotHead, toView } from './jobs.service';
import { StatusSnapshots } from './status-snapshots';

const JOB = '5b0c8f86-58a4-4c2e-a0c1-0d2b8f1e9a10';
const USER = 'a3f1c9e2-1b7d-4f0a-9c55-2f6e8d1b7c44';
const CHANNEL = 't.waste.job.updated';

/** The snapshot of version `v`, as JobsService.publish stores it. */
function snapshot(version: number, progress = version * 10): string {
  const job = Object.assign(new JobEntity(), {
    id: JOB,
    userId: USER,
    status: 'processing',
    stage: 'classifying',
    progress,
    version,
    createdAt: new Date('2026-12-04T10:00:00.000Z'),
    updatedAt: new Date('2026-12-04T10:00:02.500Z'),
    result: null,
    errorCode: null,
    errorMessage: null,
  });
  return JSON.stringify({ userId: USER, version, job: toView(job) });
}

/** The event of that version, as JobEventsEmitter publishes it. */
const event = (version: number) =>
  Buffer.from(`{"pattern":"${CHANNEL}","data":${snapshot(version)}}`);
const forgotten = () =>
  Buffer.from(`{"pattern":"${CHANNEL}","data":{"jobId":"${JOB}","forgotten":true}}`);

/**
 * The protocol of StatusSnapshots around its first Redis read (docs/architecture.md → In-process
 * answers), with the subscriber and the read replaced so that their order can be chosen:
 * test/waste/in-process-answers.spec.ts runs the same on the real Redis.
 */
describe('StatusSnapshots', () => {
  let epoch: number | undefined;
  let handler: ChannelHandler;
  let lossListeners: (() => void)[];
  let forgetListeners: ((jobId: string) => void)[];
  let reads: { resolve: (raw: Buffer | null) => void }[];
  let snapshots: StatusSnapshots;

  beforeEach(() => {
    epoch = 1;
    lossListeners = [];
    forgetListeners = [];
    reads = [];
    const subscriber = {
      listen: (_channel: string, h: ChannelHandler) => {
        handler = h;
        return Promise.resolve();
      },
      epoch: () => epoch,
      onLoss: (l: () => void) => lossListeners.push(l),
    } as unknown as RedisSubscriber;
    const jobs = {
      prefetchView: () => new Promise<Buffer | null>((resolve) => reads.push({ resolve })),
      onForget: (l: (jobId: string) => void) => forgetListeners.push(l),
    } as unknown as JobsService;
    snapshots = new StatusSnapshots({ REDIS_PREFIX: 't' } as AppConfig, subscriber, jobs);
    snapshots.onApplicationBootstrap();
  });

  /** The version a poll answers now: from memory, or undefined when it reads Redis. */
  async function keptVersion(): Promise<number | undefined> {
    const before = reads.length;
    const got = await Promise.race([snapshots.read(JOB), Promise.resolve('pending')]);
    if (reads.length > before) {
      reads.pop()!.resolve(null); // it went to Redis: nothing kept
      return undefined;
    }
    return got && typeof got === 'object' && !Buffer.isBuffer(got) ? got.version : undefined;
  }

  const settle = () => new Promise((r) => setImmediate(r));

  it('keeps what the first read brought, and the newer events after it', async () => {
    void snapshots.read(JOB);
    reads[0].resolve(Buffer.from(snapshot(3)));
    await settle();
    expect(await keptVersion()).toBe(3);
    handler(event(4));
    expect(await keptVersion()).toBe(4);
    handler(event(2)); // a stage that finished earlier, published later
    expect(await keptVersion()).toBe(4);
  });

  it('an event heard while the first read is in flight wins over an older read', async () => {
    void snapshots.read(JOB);
    handler(event(5)); // the change happened after Redis answered the read
    reads[0].resolve(Buffer.from(snapshot(4)));
    await settle();
    expect(await keptVersion()).toBe(5);
  });

  it('a read that brings a newer version than the event heard keeps the read', async () => {
    void snapshots.read(JOB);
    handler(event(5));
    reads[0].resolve(Buffer.from(snapshot(6)));
    await settle();
    expect(await keptVersion()).toBe(6);
  });

  it('keeps nothing read across a drop of the subscriber connection', async () => {
    void snapshots.read(JOB);
    epoch = 2; // dropped and back while Redis answered
    reads[0].resolve(Buffer.from(snapshot(3)));
    await settle();
    expect(await keptVersion()).toBeUndefined();
  });

  it('keeps nothing while the channel is not heard, and drops everything at a drop', async () => {
    epoch = undefined;
    void snapshots.read(JOB);
    reads[0].resolve(Buffer.from(snapshot(3)));
    await settle();
    epoch = 1;
    expect(await keptVersion()).toBeUndefined();

    void snapshots.read(JOB);
    reads[1].resolve(Buffer.from(snapshot(3)));
    await settle();
    expect(await keptVersion()).toBe(3);
    lossListeners.forEach((l) => l());
    expect(await keptVersion()).toBeUndefined();
  });

  it('a deleted snapshot is dropped, also when it is deleted while being read', async () => {
    void snapshots.read(JOB);
    reads[0].resolve(Buffer.from(snapshot(3)));
    await settle();
    handler(forgotten());
    expect(await keptVersion()).toBeUndefined();

    void snapshots.read(JOB);
    forgetListeners.forEach((l) => l(JOB)); // this process deleted it meanwhile
    reads[1].resolve(Buffer.from(snapshot(3)));
    await settle();
    expect(await keptVersion()).toBeUndefined();
  });

  it('keeps no snapshot it cannot read, and ignores events of jobs it does not keep', async () => {
    void snapshots.read(JOB);
    reads[0].resolve(Buffer.from('not a snapshot'));
    await settle();
    expect(await keptVersion()).toBeUndefined();
    handler(event(9));
    expect(snapshots.size).toBe(0);
    // The kept head is the stored one, read once.
    void snapshots.read(JOB);
    reads[reads.length - 1].resolve(Buffer.from(snapshot(9, 55)));
    await settle();
    const kept = await snapshots.read(JOB);
    expect(kept && !Buffer.isBuffer(kept) && JSON.parse(kept.jobJson())).toEqual(
      JSON.parse(snapshotHead(snapshot(9, 55)).jobJson()),
    );
  });
});

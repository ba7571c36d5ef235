import { DataSource } from 'typeorm';
import { RunningApp } from '../../src/app/bootstrap';
import { TaskPublisher } from '../../src/core/messaging/task-publisher';
import { QueueName, RoutingKey } from '../../src/core/messaging/topology';
import { MetricsServer } from '../../src/core/observability/metrics.server';
import { seoulDay } from '../../src/modules/maintenance/analytics/seoul-day.util';
import { QueueProbe, waitFor } from '../support/amqp';
import { bootRole } from '../support/app';
import { guestLogin, TestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { makePhoto, nearCopy } from '../support/photos';
import { RoboflowStandin } from '../support/standins/roboflow.standin';
import { submitPhoto, waitForEnd } from '../support/waste-client';

const TOKEN = 'analytics-admin-token-0123456789abcdef';

interface JobRow {
  id: string;
  status: string;
  error_code: string | null;
  created_at: Date;
  result: { items: { category: { id: string } }[]; cache: { hit: boolean; kind: string | null } };
  timings: Record<string, number>;
}

/** percentile_cont: linear interpolation between the closest ranks. */
function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  const pos = p * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return Math.round((s[lo] + (s[hi] - s[lo]) * (pos - lo)) * 10) / 10;
}

const ratio = (n: number, d: number) => (d ? Math.round((n / d) * 10_000) / 10_000 : null);

describe('analytics: per-job events and daily stats from real pipeline jobs', () => {
  let iso: Isolation;
  let app: RunningApp;
  let rf: RoboflowStandin;
  let user: TestLogin;
  let db: DataSource;
  const jobIds: string[] = [];

  const admin = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${app.url}/api/v1/admin/${path}`, {
      ...init,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const run = async (photo: Buffer) => {
    const { jobId } = await submitPhoto(app.url!, user.accessToken, photo);
    jobIds.push(jobId);
    return waitForEnd(app.url!, user.accessToken, jobId);
  };

  beforeAll(async () => {
    iso = await isolate('analytics');
    rf = await new RoboflowStandin().start();
    app = await bootRole(iso, {
      APP_ROLE: 'all',
      ...rf.env,
      LOCATIONS_SAMPLE_DATA: 'false',
      ADMIN_API_TOKEN: TOKEN,
    });
    db = app.app.get(DataSource);
    user = await guestLogin(app.url!);

    // Five jobs: a miss with two items, its exact repeat, a near copy, and two broken uploads.
    rf.script.push({
      kind: 'detect',
      predictions: [
        { x: 200, y: 200, width: 100, height: 200, confidence: 0.9, class: 'Clear plastic bottle' },
        { x: 450, y: 300, width: 80, height: 120, confidence: 0.8, class: 'Drink can' },
      ],
    });
    const photo = await makePhoto(31);
    expect((await run(photo)).result!.cache.hit).toBe(false);
    expect((await run(photo)).result!.cache.kind).toBe('exact');
    const near = await nearCopy(photo, { cropPct: 0.03, scale: 0.6, quality: 65 });
    expect((await run(near)).result!.cache.kind).toBe('similar');
    const junk = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(3000, 9)]);
    expect((await run(junk)).error!.code).toBe('INVALID_IMAGE');
    expect((await run(Buffer.from('not a picture'))).error!.code).toBe('INVALID_IMAGE');
  });

  afterAll(async () => {
    await app?.close();
    await rf?.close();
    await iso?.cleanup();
  });

  const jobs = async (): Promise<JobRow[]> =>
    (await db.query(
      `SELECT id, status, error_code, created_at, result, timings FROM waste.jobs WHERE id = ANY($1::uuid[])`,
      [jobIds],
    )) as JobRow[];

  it('analytics.low.save records one event per completed job, idempotently', async () => {
    const events = await waitFor('three events', async () => {
      const rows = (await db.query(
        `SELECT job_id, status, cache_hit, cache_kind, categories FROM analytics.job_events`,
      )) as { job_id: string; status: string; cache_kind: string | null; categories: string[] }[];
      return rows.length === 3 ? rows : undefined;
    });
    const byId = new Map((await jobs()).map((j) => [j.id, j]));
    for (const e of events) {
      const job = byId.get(e.job_id)!;
      expect(e.status).toBe('completed');
      expect(e.cache_kind).toBe(job.result.cache.kind);
      expect(e.categories).toEqual(job.result.items.map((i) => i.category.id));
    }
    expect(events.find((e) => e.cache_kind === null)!.categories).toEqual([
      'clear-pet',
      'can-metal',
    ]);
    // A redelivery rewrites the same row.
    const publisher = app.app.get(TaskPublisher);
    await publisher.publish(RoutingKey.AnalyticsSave, { jobId: events[0].job_id });
    await new Promise((r) => setTimeout(r, 300));
    const [{ n }] = (await db.query(`SELECT count(*)::int AS n FROM analytics.job_events`)) as {
      n: number;
    }[];
    expect(n).toBe(3);
  });

  it('a bad analytics payload is dead-lettered as INVALID_MESSAGE', async () => {
    const probe = await QueueProbe.connect(iso.rabbitUrl);
    try {
      const id = await app.app
        .get(TaskPublisher)
        // @ts-expect-error a number is not the uuid the message map asks for
        .publish(RoutingKey.AnalyticsSave, { jobId: 42 });
      await waitFor('the dead letter', async () => (await probe.depth(QueueName.Dlq)) === 1);
      const shown = await admin(`dlq/${id}`);
      expect(shown.body).toMatchObject({
        reason: 'INVALID_MESSAGE',
        routingKey: 'analytics.low.save',
      });
      await admin('dlq?all=true', { method: 'DELETE' });
    } finally {
      await probe.close();
    }
  });

  it('sched.daily.stats stores the day, and its numbers are those of the jobs', async () => {
    const rows = await jobs();
    const day = seoulDay(new Date(rows[0].created_at));
    const mine = rows.filter((j) => seoulDay(new Date(j.created_at)) === day);
    // The 02:00 tick of the next day computes this one.
    const next = new Date(Date.parse(`${day}T02:00:00+09:00`) + 24 * 3600 * 1000);
    await app.app
      .get(TaskPublisher)
      .publish(RoutingKey.SchedDailyStats, { scheduledFor: next.toISOString(), tickId: 't1' });
    const stored = await waitFor('the stored day', async () => {
      const r = await admin(`stats/daily?date=${day}`);
      return r.body.stored ? r.body : undefined;
    });
    const stats = stored.stats as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

    const completed = mine.filter((j) => j.status === 'completed');
    const failed = mine.filter((j) => j.status === 'failed');
    expect(completed.length + failed.length).toBe(mine.length);
    expect(stats.jobs).toEqual({
      total: mine.length,
      completed: completed.length,
      failed: failed.length,
      expired: 0,
      pending: 0,
    });
    const processed = completed.length + failed.length;
    expect(stats.completionRate).toBe(ratio(completed.length, processed));
    expect(stats.failureRate).toBe(ratio(failed.length, processed));
    const codes: Record<string, { count: number; rate: number | null }> = {};
    for (const j of failed) {
      const c = (codes[j.error_code!] ??= { count: 0, rate: null });
      c.count++;
      c.rate = ratio(c.count, processed);
    }
    expect(stats.failuresByCode).toEqual(codes);
    const kind = (k: string | null) =>
      completed.filter((j) => (j.result.cache.hit ? j.result.cache.kind : null) === k).length;
    expect(stats.cache).toEqual({
      lookups: completed.length,
      hitRate: ratio(kind('exact') + kind('similar'), completed.length),
      byKind: {
        exact: { count: kind('exact'), rate: ratio(kind('exact'), completed.length) },
        similar: { count: kind('similar'), rate: ratio(kind('similar'), completed.length) },
        miss: { count: kind(null), rate: ratio(kind(null), completed.length) },
      },
    });
    const byCategory: Record<string, number> = {};
    for (const j of completed) {
      for (const i of j.result.items)
        byCategory[i.category.id] = (byCategory[i.category.id] ?? 0) + 1;
    }
    expect(stats.items).toEqual({
      total: Object.values(byCategory).reduce((a, b) => a + b, 0),
      byCategory,
    });
    const stages = new Set(completed.flatMap((j) => Object.keys(j.timings)));
    expect(stages.has('total')).toBe(true);
    expect(stages.has('vision')).toBe(true);
    expect(Object.keys(stats.latencyMs).sort()).toEqual([...stages].sort());
    for (const stage of stages) {
      const values = completed.map((j) => j.timings[stage]).filter((v) => typeof v === 'number');
      expect(stats.latencyMs[stage]).toEqual({
        count: values.length,
        p50: percentile(values, 0.5),
        p90: percentile(values, 0.9),
        p99: percentile(values, 0.99),
      });
    }
    // What this run should have produced, in plain numbers.
    if (mine.length === 5) {
      expect(stats.jobs.completed).toBe(3);
      expect(stats.failuresByCode).toEqual({ INVALID_IMAGE: { count: 2, rate: 0.4 } });
      expect(stats.cache.hitRate).toBe(0.6667);
      expect(stats.items.byCategory).toEqual({ 'clear-pet': 3, 'can-metal': 3 });
    }
    // The back-fill recorded the failed jobs too.
    const [{ n }] = (await db.query(
      `SELECT count(*)::int AS n FROM analytics.job_events WHERE status = 'failed'`,
    )) as { n: number }[];
    expect(n).toBe(failed.length);
  });

  it('a recompute on request gives the same numbers; the gauges show them', async () => {
    const rows = await jobs();
    const day = seoulDay(new Date(rows[0].created_at));
    const before = (await admin(`stats/daily?date=${day}`)).body;
    const res = await admin(`stats/daily?date=${day}`, { method: 'POST' });
    expect(res.status).toBe(202);
    const after = await waitFor('the recompute', async () => {
      const r = (await admin(`stats/daily?date=${day}`)).body;
      return r.computedAt !== before.computedAt ? r : undefined;
    });
    expect(after.stats).toEqual(before.stats);
    expect((await admin('stats/daily?date=2026-02-30')).status).toBe(400);
    const empty = await admin('stats/daily?date=2020-01-01');
    expect(empty.body).toMatchObject({ stored: false, stats: { jobs: { total: 0 } } });

    const port = app.app.get(MetricsServer).port!;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const s = before.stats as { jobs: { completed: number }; cache: { hitRate: number } };
    expect(text).toContain(`waste_daily_jobs{status="completed"} ${s.jobs.completed}`);
    expect(text).toContain(`waste_daily_cache_hit_ratio{kind="any"} ${s.cache.hitRate}`);
    expect(text).toMatch(/waste_daily_stage_latency_ms\{stage="total",quantile="0.5"\} \d/);
  });
});

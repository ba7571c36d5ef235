import { Counter, Gauge, Registry } from 'prom-client';
import { Metrics, threadMetricsJson } from './metrics';

/** What the other thread's registry would hold: the same names, its own values. */
async function otherThread(): Promise<Awaited<ReturnType<Registry['getMetricsAsJSON']>>> {
  const r = new Registry();
  new Counter({ name: 'spec_tasks_total', help: 'h', labelNames: ['k'], registers: [r] })
    .labels('a')
    .inc(5);
  new Gauge({ name: 'spec_consumers', help: 'h', registers: [r], aggregator: 'max' }).set(3);
  return r.getMetricsAsJSON();
}

const value = (text: string, series: string) =>
  Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);

describe('Metrics.scrape: the other threads of the process merged in', () => {
  const metrics = new Metrics();

  it('sums counters per label set and keeps one value of a shared-state gauge', async () => {
    metrics.counter('spec_tasks_total', 'h', ['k']).labels('a').inc(2);
    metrics.counter('spec_tasks_total', 'h', ['k']).labels('b').inc(1);
    metrics.gauge('spec_consumers', 'h', []).set(3);
    const alone = await metrics.scrape();
    expect(value(alone, 'spec_tasks_total{k="a"}')).toBe(2);

    const remove = metrics.addSource(otherThread);
    try {
      const merged = await metrics.scrape();
      expect(value(merged, 'spec_tasks_total{k="a"}')).toBe(7);
      expect(value(merged, 'spec_tasks_total{k="b"}')).toBe(1);
      expect(value(merged, 'spec_consumers')).toBe(3); // max, not 6
      // The process-wide default metrics appear once.
      expect(merged.match(/^process_cpu_seconds_total /gm)).toHaveLength(1);
    } finally {
      remove();
    }
  });

  it('serves its own metrics when a source fails', async () => {
    const remove = metrics.addSource(() => Promise.reject(new Error('thread busy')));
    try {
      expect(value(await metrics.scrape(), 'spec_tasks_total{k="b"}')).toBe(1);
    } finally {
      remove();
    }
  });

  it("a thread's own export leaves out the process-wide process_* metrics", async () => {
    const names = (await threadMetricsJson()).map((m) => m.name);
    expect(names).toContain('nodejs_heap_size_used_bytes');
    expect(names.filter((n) => n.startsWith('process_'))).toEqual([]);
  });
});

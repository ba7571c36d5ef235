// Percentiles and the report's markdown.

export function pct(values, p) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x));
  if (!v.length) return null;
  v.sort((a, b) => a - b);
  const i = Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1));
  return v[i];
}

export function dist(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x));
  if (!v.length) return { n: 0 };
  return {
    n: v.length,
    p50: round(pct(v, 50)),
    p95: round(pct(v, 95)),
    p99: round(pct(v, 99)),
    max: round(v.reduce((a, b) => (b > a ? b : a), -Infinity)), // no spread: 100k+ polls
    mean: round(v.reduce((a, b) => a + b, 0) / v.length),
  };
}

export const round = (x, d = 1) => (x === null || x === undefined ? x : Number(x.toFixed(d)));

export function fmtDist(d, unit = 'ms') {
  if (!d || !d.n) return '–';
  return `${d.p50} / ${d.p95} / ${d.p99} ${unit} (n=${d.n})`;
}

export function table(rows) {
  const [head, ...body] = rows;
  const line = (r) => `| ${r.map((c) => String(c ?? '–').replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...body.map(line)].join('\n');
}

/** Sums of Prometheus counters by name and labels, from /metrics texts. */
export function parseMetrics(texts, names) {
  const out = {};
  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+([-\d.eE+]+|NaN)/.exec(line);
      if (!m || !names.includes(m[1])) continue;
      const key = `${m[1]}${m[2] ?? ''}`;
      out[key] = (out[key] ?? 0) + Number(m[3]);
    }
  }
  return out;
}

export function diffCounters(after, before) {
  const out = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d) out[k] = d;
  }
  return out;
}

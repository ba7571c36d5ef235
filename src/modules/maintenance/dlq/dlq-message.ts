import { createHash } from 'node:crypto';
import type { GetMessage, Options } from 'amqplib';
import { ALL_ROUTING_KEYS, RoutingKey } from '../../../core/messaging/topology';

/**
 * What an operator sees of a dead letter. Two shapes reach q.dlq:
 * - `dispatcher`: our TaskConsumer gave up (x-original-routing-key, x-error-code, x-error-message,
 *   x-failed-at, x-failed-role, x-attempt);
 * - `broker`: RabbitMQ dead-lettered it (TTL expiry, x-max-length overflow, rejection), with the
 *   standard `x-death` array and `x-first-death-*` headers.
 */
export interface DlqEntry {
  /** properties.messageId, or `sha256:<16 hex>` of the body for a message without one. */
  id: string;
  /** Where a replay sends it (null: no known routing key, so it cannot be replayed). */
  routingKey: RoutingKey | null;
  source: 'dispatcher' | 'broker';
  /** Error code (dispatcher) or the broker's reason: expired, maxlen, rejected. */
  reason: string;
  error: string | null;
  /** The queue it died in (broker) or the role that gave up on it (dispatcher). */
  where: string | null;
  failedAt: string | null;
  attempts: number | null;
  priority: number | null;
  size: number;
  payload: unknown;
}

export interface DlqEntryDetail extends DlqEntry {
  headers: Record<string, unknown>;
  properties: Record<string, unknown>;
}

type Headers = Record<string, unknown>;

interface XDeath {
  queue?: string;
  reason?: string;
  exchange?: string;
  count?: number;
  time?: unknown;
  'routing-keys'?: string[];
}

/** Headers our dispatcher or the broker added; a replay starts clean without them. */
const FAILURE_HEADERS = [
  'x-death',
  'x-first-death-queue',
  'x-first-death-reason',
  'x-first-death-exchange',
  'x-last-death-queue',
  'x-last-death-reason',
  'x-last-death-exchange',
  'x-delivery-count',
  'x-error-code',
  'x-error-message',
  'x-failed-at',
  'x-failed-role',
  'x-original-exchange',
  'x-original-routing-key',
  'x-retry-tier',
  'retry-tier',
  'x-last-error',
  'x-attempt',
];

export function entryId(msg: Pick<GetMessage, 'content' | 'properties'>): string {
  const id = msg.properties.messageId as string | undefined;
  if (id) return String(id);
  return `sha256:${createHash('sha256').update(msg.content).digest('hex').slice(0, 16)}`;
}

function deaths(headers: Headers): XDeath[] {
  const x = headers['x-death'];
  return Array.isArray(x) ? (x as XDeath[]) : [];
}

function isRoutingKey(k: unknown): k is RoutingKey {
  return typeof k === 'string' && (ALL_ROUTING_KEYS as readonly string[]).includes(k);
}

/** The routing key the message was first published with, from either shape. */
export function originalRoutingKey(msg: GetMessage): RoutingKey | null {
  const headers = (msg.properties.headers ?? {}) as Headers;
  const candidates: unknown[] = [headers['x-original-routing-key']];
  // x-death is newest first; its oldest entry names the key the message was first routed with.
  for (const d of [...deaths(headers)].reverse()) candidates.push(d['routing-keys']?.[0]);
  // The DLX keeps the routing key unless x-dead-letter-routing-key is set (we never set it).
  candidates.push(msg.fields.routingKey);
  return (candidates.find(isRoutingKey) as RoutingKey | undefined) ?? null;
}

function timestamp(v: unknown): string | null {
  if (typeof v === 'string') return v;
  const n =
    typeof v === 'number'
      ? v
      : typeof (v as { value?: unknown } | null)?.value === 'number'
        ? (v as { value: number }).value
        : undefined;
  return n === undefined ? null : new Date(n * 1000).toISOString();
}

function parsePayload(content: Buffer): unknown {
  const text = content.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return { base64: content.toString('base64') };
  }
}

export function toEntry(msg: GetMessage): DlqEntry {
  const headers = (msg.properties.headers ?? {}) as Headers;
  const dispatcher = typeof headers['x-error-code'] === 'string';
  const last = deaths(headers)[0];
  const attempts = Number(headers['x-attempt']);
  return {
    id: entryId(msg),
    routingKey: originalRoutingKey(msg),
    source: dispatcher ? 'dispatcher' : 'broker',
    reason: dispatcher
      ? String(headers['x-error-code'])
      : String(last?.reason ?? headers['x-first-death-reason'] ?? 'unknown'),
    error: dispatcher ? String(headers['x-error-message'] ?? '') : null,
    where: dispatcher
      ? String(headers['x-failed-role'] ?? '') || null
      : String(last?.queue ?? headers['x-first-death-queue'] ?? '') || null,
    failedAt: dispatcher ? timestamp(headers['x-failed-at']) : timestamp(last?.time),
    attempts: Number.isFinite(attempts) && attempts > 0 ? attempts : null,
    priority: typeof msg.properties.priority === 'number' ? msg.properties.priority : null,
    size: msg.content.length,
    payload: parsePayload(msg.content),
  };
}

export function toDetail(msg: GetMessage): DlqEntryDetail {
  const { headers, ...properties } = msg.properties as unknown as Record<string, unknown>;
  return {
    ...toEntry(msg),
    headers: (headers ?? {}) as Headers,
    properties: Object.fromEntries(Object.entries(properties).filter(([, v]) => v !== undefined)),
  };
}

/** Publish options of the replayed copy: same id, priority and body; a fresh first attempt. */
export function replayOptions(msg: GetMessage): Options.Publish {
  const p = msg.properties;
  const headers: Headers = { ...((p.headers ?? {}) as Headers) };
  for (const h of FAILURE_HEADERS) delete headers[h];
  const count = Number(headers['x-replay-count'] ?? 0) || 0;
  return {
    persistent: true,
    contentType: (p.contentType as string | undefined) ?? 'application/json',
    contentEncoding: p.contentEncoding as string | undefined,
    messageId: p.messageId as string | undefined,
    correlationId: p.correlationId as string | undefined,
    timestamp: p.timestamp as number | undefined,
    priority: p.priority as number | undefined,
    type: p.type as string | undefined,
    appId: p.appId as string | undefined,
    headers: {
      ...headers,
      'x-attempt': 1,
      'x-replay-count': count + 1,
      'x-replayed-at': new Date().toISOString(),
    },
  };
}

import { z } from 'zod';
import { API_MODULES, APP_ROLES } from './roles';

const MiB = 1024 * 1024;

/** "15m", "30d", "3600" (seconds) → seconds. */
export function parseDuration(value: string): number | undefined {
  const m = /^(\d+)\s*(s|m|h|d)?$/.exec(value.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  return n * unit;
}

const duration = z.string().transform((v, ctx) => {
  const s = parseDuration(v);
  if (s === undefined || s <= 0) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: 'expected a duration like 900, 15m, 12h or 30d',
    });
    return z.NEVER;
  }
  return s;
});

const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `expected a ${protocols.join(' or ')} URL` },
  );

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ invalid_type_error: 'expected a number' })
    .int('expected a whole number')
    .min(min)
    .max(max);

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

const csv = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

const http = url(['http:', 'https:']);

/**
 * The operators' contract: every environment variable the process reads, with its default.
 * The operators' contract (docs/configuration.md) plus a few operational knobs.
 */
export const envSchema = z.object({
  APP_ROLE: z
    .enum(APP_ROLES, {
      errorMap: () => ({ message: `expected one of ${APP_ROLES.join(', ')}` }),
    })
    .default('all'),
  /**
   * `all` role only: `auto` runs the worker capabilities in a worker thread beside the API's
   * event loop when the machine has ≥ 2 cores, `on` always, `off` never (one event loop).
   * See docs/architecture.md → Roles and src/app/threads.ts.
   */
  ALL_ROLE_THREADS: z.enum(['auto', 'on', 'off']).default('auto'),
  NODE_ENV: z.string().default('development'),
  BIND_HOST: z.string().min(1).default('0.0.0.0'),
  PORT: int(0, 65535).default(3000),
  METRICS_PORT: int(0, 65535).default(9464),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  API_MODULES: z
    .string()
    .default(API_MODULES.join(','))
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(
      z
        .array(z.enum(API_MODULES, { message: `expected a list of ${API_MODULES.join(', ')}` }))
        .min(1),
    ),

  DATABASE_URL: url(['postgres:', 'postgresql:']).default(
    'postgres://postgres@127.0.0.1:5432/waste_coach',
  ),
  DATABASE_POOL_SIZE: int(1, 200).default(10),
  DATABASE_SSL: bool.default('false'),
  DATABASE_PREPARED_STATEMENTS: bool.default('true'),
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only')
    .default('wc'),
  RABBITMQ_URL: url(['amqp:', 'amqps:']).default('amqp://guest:guest@127.0.0.1:5672'),
  PREFETCH_FAST: int(1, 1000).default(32),
  PREFETCH_EXTERNAL: int(1, 1000).default(256),
  PREFETCH_BULK: int(1, 1000).default(1),
  PREFETCH_SCHED: int(1, 1000).default(1),
  QUEUE_MAX_LENGTH: int(1).default(100000),
  TASK_MAX_ATTEMPTS: int(1, 20).default(7),
  SHUTDOWN_TIMEOUT_MS: int(0).default(25000),

  PUBLIC_BASE_URL: http.default('http://localhost:3000'),
  STORAGE_DRIVER: z.enum(['local', 's3']).default('local'),
  STORAGE_LOCAL_DIR: z.string().min(1).default('./data/storage'),
  S3_BUCKET: optionalString,
  S3_REGION: z.string().default('ap-northeast-2'),
  S3_ENDPOINT: optionalString.pipe(http.optional()),
  S3_FORCE_PATH_STYLE: bool.default('false'),

  JWT_SECRET: optionalString,
  JWT_ACCESS_TTL: duration.default('15m'),
  JWT_REFRESH_TTL: duration.default('30d'),

  VISION_PROVIDER: z.enum(['roboflow', 'openai', 'none']).default('none'),
  VISION_TIMEOUT_MS: int(100).default(15000),
  ROBOFLOW_API_URL: http.default('https://detect.roboflow.com'),
  ROBOFLOW_API_KEY: optionalString,
  ROBOFLOW_MODEL: optionalString,
  ROBOFLOW_LABEL_MAP: optionalString,
  LLM_PROVIDER: z.enum(['openai', 'none']).default('none'),
  LLM_TIMEOUT_MS: int(100).default(20000),
  /** Retries of the OpenAI client on 408/409/429/5xx within LLM_TIMEOUT_MS (coaching). */
  LLM_MAX_RETRIES: int(0, 5).default(1),
  OPENAI_BASE_URL: http.default('https://api.openai.com/v1'),
  OPENAI_API_KEY: optionalString,
  OPENAI_MODEL: z.string().min(1).default('gpt-4o-mini'),
  OPENAI_VISION_MODEL: z.string().min(1).default('gpt-4o-mini'),

  KAKAO_REST_API_KEY: optionalString,
  KAKAO_LOCAL_URL: http.default('https://dapi.kakao.com'),
  KAKAO_API_URL: http.default('https://kapi.kakao.com'),
  KAKAO_AUTH_URL: http.default('https://kauth.kakao.com'),
  KAKAO_CLIENT_ID: optionalString,
  KAKAO_CLIENT_SECRET: optionalString,
  NAVER_API_URL: http.default('https://openapi.naver.com'),
  NAVER_AUTH_URL: http.default('https://nid.naver.com'),
  NAVER_CLIENT_ID: optionalString,
  NAVER_CLIENT_SECRET: optionalString,
  GOOGLE_CLIENT_IDS: csv.default(''),
  GOOGLE_CLIENT_SECRET: optionalString,
  GOOGLE_JWKS_URL: http.default('https://www.googleapis.com/oauth2/v3/certs'),
  GOOGLE_TOKEN_URL: http.default('https://oauth2.googleapis.com/token'),
  THIRD_PARTY_TIMEOUT_MS: int(100).default(5000),

  CACHE_TTL_DAYS: int(1, 365).default(7),
  IMAGE_RETENTION_DAYS: int(1, 3650).default(30),
  MAX_UPLOAD_BYTES: int(1024, 100 * MiB).default(10 * MiB),
  MAX_IMAGE_PIXELS: int(1).default(40_000_000),
  UPLOAD_URL_TTL_SECONDS: int(30, 86400).default(600),
  JOB_TIMEOUT_SECONDS: int(30).default(900),
  JOB_RESUME_SECONDS: int(10).default(120),
  /** Distinct registered accounts whose identical corrections replace the shared cached answer; 0 = never. */
  CORRECTION_CONSENSUS_ACCOUNTS: int(0, 1000).default(0),
  SSE_HEARTBEAT_MS: int(100, 600_000).default(15_000),
  /**
   * A status snapshot that is not final and older than this is checked against PostgreSQL: a
   * job that ended while Redis was unreachable would otherwise show its old state until the
   * snapshot's 24 h TTL (docs/messaging.md → What a client sees). Longer than a normal stage step.
   */
  JOB_SNAPSHOT_RECHECK_MS: int(0, 3_600_000).default(15_000),
  // Beat checks that its schedule is still in Redis this often (and after every reconnect).
  SCHEDULE_CHECK_SECONDS: int(1, 3600).default(30),
  /**
   * Open event streams in one API process: per user and per client address 429
   * TOO_MANY_STREAMS above; over the per-job cap the user's oldest stream on it is closed.
   * Per address because guests are free to create; 0 = no per-address cap.
   */
  SSE_MAX_STREAMS_PER_USER: int(1, 10_000).default(10),
  SSE_MAX_STREAMS_PER_JOB: int(1, 10_000).default(3),
  SSE_MAX_STREAMS_PER_IP: int(0, 100_000).default(50),
  /** Node's server deadlines: all request headers, and the whole request incl. its body (408). */
  HTTP_HEADERS_TIMEOUT_MS: int(1000, 600_000).default(10_000),
  HTTP_REQUEST_TIMEOUT_MS: int(1000, 3_600_000).default(60_000),

  // Rate limits (requests per RATE_LIMIT_WINDOW_SECONDS; 0 disables one). Redis-backed, so
  // they hold across API replicas. See docs/auth.md.
  RATE_LIMIT_WINDOW_SECONDS: int(1, 3600).default(60),
  RATE_LIMIT_LOGIN_PER_IP: int(0).default(30),
  RATE_LIMIT_LOGIN_PER_USER: int(0).default(10),
  RATE_LIMIT_REFRESH_PER_IP: int(0).default(60),
  RATE_LIMIT_REFRESH_PER_USER: int(0).default(20),
  RATE_LIMIT_ANALYZE_PER_USER: int(0).default(30),
  RATE_LIMIT_ANALYZE_PER_IP: int(0).default(120),
  // A correction re-runs coaching (maybe an LLM call), the schedule, history and a signal write.
  RATE_LIMIT_CORRECTION_PER_USER: int(0).default(10),
  RATE_LIMIT_CORRECTION_PER_IP: int(0).default(60),
  /**
   * Proxies (ALB, ingress) that append to X-Forwarded-For in front of the API. 0 (the default)
   * trusts no forwarding header: with nothing in front, the client writes the whole header.
   */
  TRUSTED_PROXY_HOPS: int(0, 10).default(0),

  // Request limits (docs/auth.md → Request limits).
  BODY_MAX_BYTES: int(1024, 10 * MiB).default(256 * 1024),
  JSON_MAX_DEPTH: int(2, 1000).default(32),
  JSON_MAX_MEMBERS: int(10, 1_000_000).default(2048),
  JSON_MAX_KEYS: int(1, 100_000).default(64),
  /** `all` role only: import the bundled sample collection points at boot when the table is empty. */
  LOCATIONS_SAMPLE_DATA: bool.default('true'),
  /** `all` role only: import the bundled sample disposal schedules when their table is empty. */
  SCHEDULES_SAMPLE_DATA: bool.default('true'),
  /** Bearer token of the operators' /api/v1/admin endpoints (docs/operations.md); unset = they answer 404. */
  ADMIN_API_TOKEN: optionalString.pipe(
    z.string().min(24, 'must be at least 24 characters').optional(),
  ),
});

export type Env = z.infer<typeof envSchema>;

// What the database says about a phase's jobs: every accepted job ended, none lost, none done
// twice (one history row per completed job, none for the others), and the client saw the same end.
import { sleep } from './system.mjs';

const TERMINAL = ['completed', 'failed', 'expired'];

async function rows(db, ids) {
  const { rows: jobs } = await db.query(
    `SELECT id, status, stage, updated_at, error_code, error_message, result->'cache' AS cache,
            (result->'timings'->>'totalMs')::int AS total_ms,
            (result->'timings'->>'visionMs')::int AS vision_ms,
            (result->'timings'->>'coachingMs')::int AS coaching_ms,
            timings AS stages,
            EXTRACT(EPOCH FROM (finished_at - queued_at)) * 1000 AS queued_to_finished_ms,
            finalized_at IS NOT NULL AS finalized
       FROM waste.jobs WHERE id = ANY($1::uuid[])`,
    [ids],
  );
  return jobs;
}

/**
 * Waits (bounded) until every accepted job of the phase is terminal in PostgreSQL, then checks.
 * `expectedFailures`: error codes a fault window may legitimately end a job with.
 */
export async function verify(
  db,
  journeys,
  { drainMs = 60_000, expectedFailures = [], since = new Date(0) } = {},
) {
  const accepted = journeys.filter((j) => j.accepted);
  const ids = accepted.map((j) => j.jobId);
  let jobs = [];
  const until = Date.now() + drainMs;
  for (;;) {
    jobs = await rows(db, ids);
    const open = jobs.filter(
      (j) => !TERMINAL.includes(j.status) || (j.status === 'completed' && !j.finalized),
    );
    if (!open.length || Date.now() > until) break;
    await sleep(1000);
  }
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const { rows: hist } = await db.query(
    'SELECT job_id FROM users.history WHERE job_id = ANY($1::uuid[])',
    [ids],
  );
  const historyIds = new Set(hist.map((h) => h.job_id));
  // Jobs the API queued but whose 202 never reached a client (lost answers) must end too.
  const { rows: stray } = await db.query(
    `SELECT id, status FROM waste.jobs
      WHERE status IN ('queued', 'processing') AND created_at >= $2 AND NOT (id = ANY($1::uuid[]))`,
    [ids, since],
  );

  const problems = [];
  const lost = [];
  const mismatched = [];
  const failures = {};
  let completed = 0;
  let historyMissing = 0;
  let historyExtra = 0;
  for (const j of accepted) {
    const row = byId.get(j.jobId);
    if (!row) {
      lost.push({ jobId: j.jobId, why: 'no row' });
      continue;
    }
    j.db = row;
    if (!TERMINAL.includes(row.status)) {
      lost.push({
        jobId: j.jobId,
        status: row.status,
        stage: row.stage,
        stages: row.stages,
        updatedAt: row.updated_at,
      });
      continue;
    }
    if (row.status === 'completed') {
      completed++;
      if (!historyIds.has(row.id)) historyMissing++;
    } else {
      const code = row.error_code ?? row.status;
      failures[code] = (failures[code] ?? 0) + 1;
      if (historyIds.has(row.id)) historyExtra++;
    }
    // The client followed it to the end and saw the same end as the database.
    if (TERMINAL.includes(j.status) && j.status !== row.status) {
      mismatched.push({ jobId: j.jobId, client: j.status, db: row.status });
    }
  }
  const unfollowed = accepted.filter((j) => !TERMINAL.includes(j.status)).length;
  if (lost.length) problems.push(`${lost.length} accepted job(s) never ended (lost)`);
  if (stray.length) problems.push(`${stray.length} queued job(s) unknown to clients never ended`);
  if (historyMissing) problems.push(`${historyMissing} completed job(s) without a history row`);
  if (historyExtra) problems.push(`${historyExtra} failed job(s) with a history row`);
  if (hist.length !== historyIds.size) problems.push('duplicate history rows');
  if (mismatched.length) problems.push(`${mismatched.length} job(s): client and DB disagree`);
  const unexpected = Object.entries(failures).filter(([c]) => !expectedFailures.includes(c));
  if (unexpected.length) {
    problems.push(`unexpected failures: ${unexpected.map(([c, n]) => `${c}×${n}`).join(', ')}`);
  }
  const watchdog = accepted.filter((j) => /no progress for/.test(j.db?.error_message ?? '')).length;
  if (watchdog)
    problems.push(`${watchdog} job(s) ended only by the watchdog (lost in the pipeline)`);
  return {
    submitted: journeys.length,
    accepted: accepted.length,
    notAccepted: journeys.length - accepted.length,
    completed,
    failures,
    lost: lost.length,
    lostSample: lost.slice(0, 5),
    stray: stray.length,
    historyRows: hist.length,
    historyMissing,
    historyExtra,
    mismatched: mismatched.length,
    unfollowed,
    ok: problems.length === 0,
    problems,
  };
}

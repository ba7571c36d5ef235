export const APP_ROLES = ['api', 'fast', 'external', 'bulk', 'beat', 'workers', 'all'] as const;
export type AppRole = (typeof APP_ROLES)[number];

export const WORKER_ROLES: readonly AppRole[] = ['fast', 'external', 'bulk', 'beat'];

export function isAppRole(value: string): value is AppRole {
  return (APP_ROLES as readonly string[]).includes(value);
}

/** Roles that serve the HTTP API (and SSE, and /docs). */
export function servesHttp(role: AppRole): boolean {
  return role === 'api' || role === 'all';
}

/** The worker capabilities (each one a role of its own in the split deployment). */
export type WorkerCapability = 'fast' | 'external' | 'bulk' | 'beat';

/**
 * Roles that run a given worker capability. `all` runs everything in one process; `workers` runs
 * every capability without HTTP (what the `all` role's worker thread runs, src/app/threads.ts).
 */
export function runsWorker(role: AppRole, worker: WorkerCapability): boolean {
  return role === worker || role === 'all' || role === 'workers';
}

/** Route groups an API process can serve (API_MODULES); `admin` is the operators' /api/v1/admin. */
export const API_MODULES = ['auth', 'users', 'waste', 'recycling', 'locations', 'admin'] as const;
export type ApiModuleName = (typeof API_MODULES)[number];

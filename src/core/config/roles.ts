export const APP_ROLES = ['api', 'fast', 'external', 'bulk', 'beat', 'all'] as const;
export type AppRole = (typeof APP_ROLES)[number];

export const WORKER_ROLES: readonly AppRole[] = ['fast', 'external', 'bulk', 'beat'];

export function isAppRole(value: string): value is AppRole {
  return (APP_ROLES as readonly string[]).includes(value);
}

/** Roles that serve the HTTP API (and SSE, and /docs). */
export function servesHttp(role: AppRole): boolean {
  return role === 'api' || role === 'all';
}

/** Roles that run a given worker capability. `all` runs everything in one process. */
export function runsWorker(role: AppRole, worker: Exclude<AppRole, 'api' | 'all'>): boolean {
  return role === worker || role === 'all';
}

/** Route groups an API process can serve (API_MODULES); `admin` is the operators' /api/v1/admin. */
export const API_MODULES = ['auth', 'users', 'waste', 'recycling', 'locations', 'admin'] as const;
export type ApiModuleName = (typeof API_MODULES)[number];

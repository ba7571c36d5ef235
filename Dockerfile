# syntax=docker/dockerfile:1.7
# One image for every role: `node dist/main.js` serves the API (APP_ROLE=api, or all),
# `node dist/worker.js` runs APP_ROLE=fast|external|bulk|beat, and
# `node dist/core/database/migrate.js` applies migrations and exits (the Helm hook Job).
# test/deploy/docker-image.spec.ts replays the deps and runtime stages below step by step and
# boots every role from the result, so keep the steps plain COPY/RUN/ENV lines.
ARG NODE_VERSION=22

# ---- build: dev dependencies + TypeScript compile -------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json nest-cli.json ./
COPY src ./src
RUN npx nest build

# ---- deps: production dependencies only (sharp's prebuilt @img/* platform packages included) -
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime ---------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
LABEL org.opencontainers.image.title="waste-coach" \
      org.opencontainers.image.description="AI Waste Coach backend: API and fast/external/bulk/beat workers in one image" \
      org.opencontainers.image.source="https://github.com/waste-coach/waste-coach"
# MALLOC_ARENA_MAX=2: glibc gives each thread that mallocs (libuv's pool, where sharp/libvips
# work) an arena of its own; two keep the process ~25 MB smaller for no measurable CPU
# (docs/benchmarks.md → Worker side and memory). npm start sets it too.
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    PORT=3000 \
    METRICS_PORT=9464 \
    STORAGE_LOCAL_DIR=/tmp/waste-coach/storage
WORKDIR /app
# Files stay owned by root and read-only for the app user: the process never writes under /app
# (Kubernetes also mounts the root filesystem read-only; only /tmp is writable there).
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The `node` user of the base image, by number so that runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 3000 9464
# Every role serves /health/live on METRICS_PORT (the API also on PORT).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.METRICS_PORT || 9464) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node is PID 1 and handles SIGTERM itself (graceful drain); never start through npm, which
# does not forward signals.
CMD ["node", "dist/main.js"]

/**
 * Two projects, one Jest run (so `npm test` reports one result, and .ci/run reads one JSON):
 * `unit` — src/**\/*.spec.ts, pure logic and services with their repositories or drivers
 * replaced, no service running (`npm run test:unit`); `integration` — test/**\/*.spec.ts, against
 * the real PostgreSQL, Redis and RabbitMQ (`npm run test:integration`).
 */
const transform = {
  '^.+\\.ts$': [
    '@swc/jest',
    {
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
        keepClassNames: true,
      },
      module: { type: 'commonjs' },
      sourceMaps: 'inline',
    },
  ],
  // @fastify/static (the OpenAPI UI's assets) requires content-disposition 3, an ES module: Node
  // loads it (require(esm), Node ≥ 20.19), Jest before Node 24.9 cannot, so swc turns it into
  // CommonJS here.
  'node_modules/.+/content-disposition/.+\\.js$': [
    '@swc/jest',
    { jsc: { target: 'es2022' }, module: { type: 'commonjs' } },
  ],
};
const transformIgnorePatterns = ['/node_modules/(?!(.+/)?content-disposition/)'];

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      roots: ['<rootDir>/src'],
      testMatch: ['**/*.spec.ts'],
      transform,
      transformIgnorePatterns,
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.spec.ts'],
      transform,
      transformIgnorePatterns,
    },
  ],
  testTimeout: 60000,
  maxWorkers: 2,
  // Integration suites open sockets to PostgreSQL, Redis and RabbitMQ; each closes its own.
  forceExit: false,
};

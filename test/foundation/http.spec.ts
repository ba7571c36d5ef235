import { RunningApp } from '../../src/app/bootstrap';
import { bootRole } from '../support/app';
import { Isolation, isolate } from '../support/isolation';

describe('HTTP conventions: problem details, request ids, OpenAPI', () => {
  let iso: Isolation;
  let app: RunningApp;
  beforeAll(async () => {
    iso = await isolate('http');
    app = await bootRole(iso, { APP_ROLE: 'api' });
  });
  afterAll(async () => {
    await app?.close();
    await iso.cleanup();
  });

  it('an unknown route is a 404 problem with a code and the request id, no stack', async () => {
    const res = await fetch(`${app.url}/api/v1/does-not-exist`, {
      headers: { 'X-Request-Id': 'req-abc.123' },
    });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.headers.get('x-request-id')).toBe('req-abc.123');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
      title: 'Not Found',
      requestId: 'req-abc.123',
    });
    expect(typeof body.type).toBe('string');
    expect(JSON.stringify(body)).not.toMatch(/at .*\.js:\d+/);
  });

  it('generates a request id when the client sends none (or an unsafe one)', async () => {
    const a = await fetch(`${app.url}/health/live`);
    expect(a.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const b = await fetch(`${app.url}/health/live`, {
      headers: { 'X-Request-Id': 'bad id with spaces' },
    });
    expect(b.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('malformed JSON is a 400 problem, not a 500', async () => {
    const res = await fetch(`${app.url}/api/v1/auth/guest`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"deviceId": ',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await res.json()) as { code: string }).code).toBe('VALIDATION_FAILED');
  });

  it('serves OpenAPI at /docs-json and the UI at /docs', async () => {
    const doc = (await (await fetch(`${app.url}/docs-json`)).json()) as {
      openapi: string;
      info: { title: string };
    };
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.info.title).toBe('AI Waste Coach API');
    const ui = await fetch(`${app.url}/docs`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('swagger');
  });
});

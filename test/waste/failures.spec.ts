import { RunningApp } from '../../src/app/bootstrap';
import { QueueProbe } from '../support/amqp';
import { bootRole } from '../support/app';
import { guestLogin, TestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { makePhoto } from '../support/photos';
import { OpenAiStandin, reply, startOpenAiStandin } from '../support/standins/openai.standin';
import { RoboflowStandin } from '../support/standins/roboflow.standin';
import { submitPhoto, waitForEnd } from '../support/waste-client';

describe('provider failures: retry transient ones with backoff, fail the rest at once', () => {
  let iso: Isolation;
  let app: RunningApp;
  let rf: RoboflowStandin;
  let user: TestLogin;
  let probe: QueueProbe;
  let seed = 500;

  beforeAll(async () => {
    iso = await isolate('failures');
    rf = await new RoboflowStandin().start();
    app = await bootRole(iso, {
      APP_ROLE: 'all',
      ...rf.env,
      VISION_TIMEOUT_MS: '300',
      TASK_MAX_ATTEMPTS: '3',
      RATE_LIMIT_LOGIN_PER_IP: '0',
      LOCATIONS_SAMPLE_DATA: 'false',
    });
    user = await guestLogin(app.url!);
    probe = await QueueProbe.connect(iso.rabbitUrl);
  });
  afterAll(async () => {
    await probe?.close();
    await app?.close();
    await rf?.close();
    await iso?.cleanup();
  });

  const run = async () => {
    const before = rf.calls.length;
    const { jobId } = await submitPhoto(app.url!, user.accessToken, await makePhoto(seed++));
    const job = await waitForEnd(app.url!, user.accessToken, jobId, 30_000);
    return { job, calls: rf.calls.slice(before) };
  };
  const deadVision = async () =>
    (await probe.drain('q.dlq')).filter((m) => m.fields.routingKey === 'external.ai.vision');

  it('429 with Retry-After: waits at least that long, then succeeds', async () => {
    rf.script.push({ kind: 'error', status: 429, message: 'Rate limit exceeded', retryAfter: '2' });
    const { job, calls } = await run();
    expect(job.status).toBe('completed');
    expect(calls).toHaveLength(2);
    expect(calls[1].at - calls[0].at).toBeGreaterThanOrEqual(1900);
  });

  it('503 model-not-ready and 500 are retried with backoff until they pass', async () => {
    rf.script.push(
      { kind: 'error', status: 503, message: 'Model is loading', retryAfter: '1' },
      { kind: 'error', status: 500, message: 'Internal error' },
    );
    const { job, calls } = await run();
    expect(job.status).toBe('completed');
    expect(calls).toHaveLength(3);
    // Backoff grows: 1 s after the first failure, 2 s after the second.
    expect(calls[2].at - calls[1].at).toBeGreaterThan(calls[1].at - calls[0].at);
  });

  it('5xx past the retry cap: the job fails VISION_UNAVAILABLE and the message lands in q.dlq', async () => {
    for (let i = 0; i < 3; i++)
      rf.script.push({ kind: 'error', status: 502, message: 'Bad gateway' });
    const { job, calls } = await run();
    expect(job.status).toBe('failed');
    expect(job.error!.code).toBe('VISION_UNAVAILABLE');
    expect(calls).toHaveLength(3);
    const dead = await deadVision();
    expect(dead).toHaveLength(1);
    expect((dead[0].properties.headers as Record<string, unknown>)['x-error-code']).toBe(
      'VISION_UNAVAILABLE',
    );
  });

  it('timeouts past the cap fail the job with TIMEOUT', async () => {
    for (let i = 0; i < 3; i++) rf.script.push({ kind: 'hang' });
    const { job, calls } = await run();
    expect(job.status).toBe('failed');
    expect(job.error!.code).toBe('TIMEOUT');
    expect(calls).toHaveLength(3);
    expect(await deadVision()).toHaveLength(1);
  });

  it.each([
    [401, 'This API key does not exist'],
    [402, 'Out of credits'],
    [403, 'Monthly limit reached'],
    [404, 'Model not found'],
  ])('%i is not retried: the job fails at once', async (status, message) => {
    rf.script.push({ kind: 'error', status, message });
    const { job, calls } = await run();
    expect(job.status).toBe('failed');
    expect(job.error!.code).toBe('VISION_UNAVAILABLE');
    expect(job.error!.message).toContain(message);
    expect(calls).toHaveLength(1);
    await deadVision();
  });

  it('400 (image refused by the provider) fails INVALID_IMAGE without retry or dead letter', async () => {
    rf.script.push({ kind: 'error', status: 400, message: 'Could not decode the image' });
    const { job, calls } = await run();
    expect(job.error!.code).toBe('INVALID_IMAGE');
    expect(calls).toHaveLength(1);
    expect(await deadVision()).toHaveLength(0);
  });

  it('labels the model does not know map to nothing: empty items with advice to try again', async () => {
    rf.script.push({
      kind: 'detect',
      predictions: [{ x: 10, y: 10, width: 5, height: 5, confidence: 0.5, class: 'zzz-unknown' }],
    });
    const { job } = await run();
    expect(job.status).toBe('completed');
    expect(job.result!.items).toEqual([]);
    expect(job.result!.coaching!.source).toBe('rules');
    expect(job.result!.coaching!.message.length).toBeGreaterThan(0);
  });
});

describe('OpenAI-compatible vision (strict JSON schema) and LLM coaching', () => {
  let iso: Isolation;
  let app: RunningApp;
  let ai: OpenAiStandin;
  let user: TestLogin;

  beforeAll(async () => {
    iso = await isolate('aivision');
    ai = await startOpenAiStandin({ apiKey: 'sk-test' });
    app = await bootRole(iso, {
      APP_ROLE: 'all',
      VISION_PROVIDER: 'openai',
      LLM_PROVIDER: 'openai',
      OPENAI_BASE_URL: ai.url,
      OPENAI_API_KEY: 'sk-test',
      VISION_TIMEOUT_MS: '2000',
      LLM_TIMEOUT_MS: '2000',
      TASK_MAX_ATTEMPTS: '2',
      RATE_LIMIT_LOGIN_PER_IP: '0',
      LOCATIONS_SAMPLE_DATA: 'false',
    });
    user = await guestLogin(app.url!);
  });
  afterAll(async () => {
    await app?.close();
    await ai?.close();
    await iso?.cleanup();
  });

  it('vision answers with category ids under a strict schema; coaching is grounded and cached', async () => {
    ai.setHandler((body) => {
      const schemaName = body.response_format?.json_schema?.name;
      if (schemaName === 'waste_items') {
        return reply.json({
          items: [
            {
              label: 'can',
              categoryId: 'can-metal',
              confidence: 0.88,
              box: { x: 0.1, y: 0.2, width: 0.3, height: 0.4 },
            },
          ],
        });
      }
      // Coaching: a model that follows the instructions (names the rule's bin, the first step).
      const prompt = JSON.parse(String(body.messages[1].content)) as {
        items: { category: string; bin: string; steps: string[] }[];
      };
      const message = prompt.items
        .map((i) => `${i.category}은(는) ${i.bin}에 버려 주세요. ${i.steps[0]}`)
        .join(' ');
      return reply.json({ message, bins: [...new Set(prompt.items.map((i) => i.bin))] });
    });
    const first = await submitPhoto(app.url!, user.accessToken, await makePhoto(700));
    const job = await waitForEnd(app.url!, user.accessToken, first.jobId);
    expect(job.status).toBe('completed');
    expect(job.result!.items[0]).toMatchObject({
      label: 'can-metal',
      confidence: 0.88,
      category: { id: 'can-metal' },
    });
    expect(job.result!.items[0].box).toEqual({ x: 0.1, y: 0.2, width: 0.3, height: 0.4 });
    expect(job.result!.coaching!.source).toBe('llm');
    const visionReq = ai.requests.find(
      (r) => r.body.response_format?.json_schema?.name === 'waste_items',
    )!;
    expect(visionReq.body.response_format!.json_schema!.strict).toBe(true);
    const content = visionReq.body.messages[1].content as {
      type: string;
      image_url?: { url: string; detail: string };
    }[];
    expect(content[0].image_url!.url).toMatch(/^data:image\/jpeg;base64,\/9j\//);
    expect(content[0].image_url!.detail).toBe('low');
    // Same classification from a different photo: coaching comes from the cache, no second LLM call.
    const llmCalls = () =>
      ai.requests.filter((r) => r.body.response_format?.json_schema?.name !== 'waste_items').length;
    const before = llmCalls();
    const second = await waitForEnd(
      app.url!,
      user.accessToken,
      (await submitPhoto(app.url!, user.accessToken, await makePhoto(701))).jobId,
    );
    expect(second.result!.coaching).toEqual(job.result!.coaching);
    expect(llmCalls()).toBe(before);
  });

  it('a vision refusal fails the job VISION_UNAVAILABLE; insufficient_quota is not retried', async () => {
    ai.setHandler(() => reply.refusal());
    const a = await waitForEnd(
      app.url!,
      user.accessToken,
      (await submitPhoto(app.url!, user.accessToken, await makePhoto(702))).jobId,
    );
    expect(a.error!.code).toBe('VISION_UNAVAILABLE');
    const before = ai.requests.length;
    ai.setHandler(() => reply.insufficientQuota());
    const b = await waitForEnd(
      app.url!,
      user.accessToken,
      (await submitPhoto(app.url!, user.accessToken, await makePhoto(703))).jobId,
    );
    expect(b.error!.code).toBe('VISION_UNAVAILABLE');
    expect(ai.requests.length - before).toBe(1);
  });
});

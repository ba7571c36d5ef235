import { RunningApp } from '../../src/app/bootstrap';
import { bootRole } from '../support/app';
import { bearer, guestLogin, TestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { makePhoto } from '../support/photos';
import { submitPhoto, waitForEnd } from '../support/waste-client';

/** Response bodies are asserted field by field; their shape is what the tests check. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

describe('a completed analysis carries the district disposal days for its items', () => {
  let iso: Isolation;
  let app: RunningApp;
  let base: string;
  let alice: TestLogin;

  beforeAll(async () => {
    iso = await isolate('schedjob');
    app = await bootRole(iso, {
      APP_ROLE: 'all',
      VISION_PROVIDER: 'none',
      RATE_LIMIT_LOGIN_PER_IP: '0',
    });
    base = app.url!;
    alice = await guestLogin(base);
  });
  afterAll(async () => {
    await app?.close();
    await iso?.cleanup();
  });

  const result = async (who: TestLogin, seed: number, opts: Record<string, unknown>) => {
    const { jobId } = await submitPhoto(base, who.accessToken, await makePhoto(seed), opts);
    const job = await waitForEnd(base, who.accessToken, jobId);
    expect(job.status).toBe('completed');
    return job.result as Json;
  };

  it('with coordinates: the region and the kinds its items belong to, next to the nearby points', async () => {
    // 강남구청; a PET bottle is a recyclable.
    const r = await result(alice, 301, { hint: '페트병', lat: 37.5173, lng: 127.0474 });
    expect(r.items[0].category.id).toBe('clear-pet');
    expect(Array.isArray(r.nearby)).toBe(true);
    expect(r.schedule.region).toMatchObject({ code: '11680', source: 'offline' });
    expect(r.schedule.available).toBe(true);
    expect(r.schedule.zones.length).toBeGreaterThan(0);
    for (const zone of r.schedule.zones) {
      expect(zone.kinds.map((k: Json) => k.kind)).toEqual(['recyclable']);
      // Between 20:00 and 24:00 KST on a collection day the window is open now.
      const next = zone.kinds[0].next;
      if (next.open) expect(next.text).toBe('지금 ~ 24:00');
      else expect(next.text).toMatch(/20:00–24:00$/);
    }
    // Leftover rice: the food kind only.
    const food = await result(alice, 302, { hint: '남은 밥', lat: 37.5173, lng: 127.0474 });
    expect(food.schedule.zones[0].kinds.map((k: Json) => k.kind)).toEqual(['food']);
  });

  it('without coordinates: the home region saved on the profile; without either: none', async () => {
    const bob = await guestLogin(base);
    const none = await result(bob, 303, { hint: '페트병' });
    expect(none.schedule).toBeNull();
    const patch = await fetch(`${base}/api/v1/users/me`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', ...bearer(bob) },
      body: JSON.stringify({ homeRegion: '해운대구' }),
    });
    expect(patch.status).toBe(200);
    const r = await result(bob, 304, { hint: '페트병', locale: 'en' });
    expect(r.schedule.region).toMatchObject({ code: '26350', source: 'profile' });
    expect(r.schedule.zones[0].kinds[0]).toMatchObject({ kind: 'recyclable', days: ['wed'] });
    expect(r.schedule.zones[0].kinds[0].next.text).toMatch(/20:00–04:00$|^now until 04:00$/);
  });

  it('a correction to another kind recomputes the schedule for the new kind', async () => {
    const { jobId } = await submitPhoto(base, alice.accessToken, await makePhoto(306), {
      hint: '페트병',
      lat: 37.5173,
      lng: 127.0474,
    });
    const job = await waitForEnd(base, alice.accessToken, jobId);
    expect((job.result as Json).schedule.zones[0].kinds[0].kind).toBe('recyclable');
    const res = await fetch(`${base}/api/v1/waste/jobs/${jobId}/correction`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(alice) },
      body: JSON.stringify({ items: [{ index: 0, categoryId: 'food-waste' }] }),
    });
    expect(res.status).toBe(200);
    const corrected = (await res.json()) as Json;
    expect(corrected.result.items[0].category.id).toBe('food-waste');
    expect(corrected.result.schedule.zones[0].kinds.map((k: Json) => k.kind)).toEqual(['food']);
  });

  it('items that go to a drop-off box get no schedule (the nearby points answer them)', async () => {
    const r = await result(alice, 305, { hint: '건전지', lat: 37.5173, lng: 127.0474 });
    expect(r.items[0].category.id).toBe('battery');
    expect(r.schedule).toBeNull();
  });
});

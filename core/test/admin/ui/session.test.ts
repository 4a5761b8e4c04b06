import { afterAll, describe, expect, it } from 'vitest';
import { Gauge, Registry } from 'prom-client';
import type { FabricEvent } from '../../../src/plugin-api/index.js';
import type { FabricHost } from '../../../src/host.js';
import { SessionStore } from '../../../src/admin/session.js';
import { RateHistory } from '../../../src/admin/rate-history.js';
import { DetectionFeed } from '../../../src/admin/detection-feed.js';
import { budgetUsed } from '../../../src/admin/routes/dashboard.js';
import { standardHost } from '../fake-host.js';
import { SecretAudit, TOKEN, expectError, testApi } from '../harness.js';

/**
 * The dashboard's server side without a browser: the token-for-cookie login, CSRF and origin
 * checks on cookie-authenticated writes, logout, the pages' CSP, the detection feed's
 * projection of hostile events, and the rate history.
 */
const audit = new SecretAudit();
afterAll(() => audit.assertNoneOf([TOKEN]));

const HOST = '127.0.0.1:8600';

async function loggedIn() {
  const host = standardHost();
  const api = await testApi(host, audit);
  const res = await api.call({ method: 'POST', url: '/ui/session', auth: false, headers: { host: HOST, origin: `http://${HOST}` }, payload: { token: TOKEN } });
  expect(res.statusCode, res.body).toBe(201);
  const setCookie = String(res.headers['set-cookie']);
  const id = /fabric_session=([^;]+)/.exec(setCookie)![1]!;
  return { host, api, setCookie, cookie: `fabric_session=${id}`, csrf: (res.json() as { csrf: string }).csrf };
}

describe('dashboard login', () => {
  it('trades the admin token for an HttpOnly, SameSite=Strict session cookie, never echoing the token', async () => {
    const { setCookie, csrf, api } = await loggedIn();
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Path=\//);
    expect(setCookie).not.toContain(TOKEN);
    expect(csrf.length).toBeGreaterThanOrEqual(24);
    await api.app.close();
  });

  it('refuses a wrong token with a message that says what the token is, and sets no cookie', async () => {
    const api = await testApi(standardHost(), audit);
    const res = await api.call({ method: 'POST', url: '/ui/session', auth: false, headers: { host: HOST }, payload: { token: 'wrong-token-0000000000' } });
    const body = expectError(res, 401, 'UNAUTHORIZED');
    expect(body.message).toContain('not the admin token');
    expect(res.headers['set-cookie']).toBeUndefined();
    await api.app.close();
  });

  it('refuses a login posted from another origin', async () => {
    const api = await testApi(standardHost(), audit);
    const res = await api.call({ method: 'POST', url: '/ui/session', auth: false, headers: { host: HOST, origin: 'https://evil.example' }, payload: { token: TOKEN } });
    expectError(res, 403, 'UNAUTHORIZED');
    expect(res.headers['set-cookie']).toBeUndefined();
    await api.app.close();
  });
});

describe('cookie-authenticated requests', () => {
  it('reads with the cookie alone; writes need the CSRF header and a same-origin Origin', async () => {
    const { api, cookie, csrf } = await loggedIn();
    const read = await api.call({ url: '/collectors', auth: false, headers: { host: HOST, cookie } });
    expect(read.statusCode).toBe(200);

    const noCsrf = await api.call({ method: 'POST', url: '/collectors/auth-log/pause', auth: false, headers: { host: HOST, cookie, origin: `http://${HOST}` } });
    expect(expectError(noCsrf, 403, 'UNAUTHORIZED').message).toContain('x-fabric-csrf');
    const wrongCsrf = await api.call({
      method: 'POST',
      url: '/collectors/auth-log/pause',
      auth: false,
      headers: { host: HOST, cookie, origin: `http://${HOST}`, 'x-fabric-csrf': 'x'.repeat(csrf.length) },
    });
    expectError(wrongCsrf, 403, 'UNAUTHORIZED');
    const crossSite = await api.call({
      method: 'POST',
      url: '/collectors/auth-log/pause',
      auth: false,
      headers: { host: HOST, cookie, origin: 'https://evil.example', 'x-fabric-csrf': csrf },
    });
    expectError(crossSite, 403, 'UNAUTHORIZED');
    expect((await api.call({ url: '/collectors/auth-log', auth: false, headers: { host: HOST, cookie } })).json().state).toBe('running');

    const ok = await api.call({ method: 'POST', url: '/collectors/auth-log/pause', auth: false, headers: { host: HOST, cookie, origin: `http://${HOST}`, 'x-fabric-csrf': csrf } });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().state).toBe('paused');
    await api.app.close();
  });

  it('gives GET /ui/session the CSRF token only to a cookie session', async () => {
    const { api, cookie, csrf } = await loggedIn();
    const res = await api.call({ url: '/ui/session', auth: false, headers: { host: HOST, cookie } });
    expect(res.json().csrf).toBe(csrf);
    expectError(await api.call({ url: '/ui/session', headers: { host: HOST } }), 401, 'UNAUTHORIZED');
    await api.app.close();
  });

  it('logs out: the cookie is cleared and the old session id no longer works', async () => {
    const { api, cookie, csrf } = await loggedIn();
    const out = await api.call({ method: 'DELETE', url: '/ui/session', auth: false, headers: { host: HOST, cookie, origin: `http://${HOST}`, 'x-fabric-csrf': csrf } });
    expect(out.statusCode).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/fabric_session=;.*Max-Age=0/);
    const after = await api.call({ url: '/collectors', auth: false, headers: { host: HOST, cookie } });
    expect(expectError(after, 401, 'UNAUTHORIZED').message).toContain('log in again');
    const page = await api.call({ url: '/ui', auth: false, headers: { host: HOST, cookie } });
    expect(page.statusCode).toBe(302);
    expect(page.headers.location).toBe('/ui/login');
    await api.app.close();
  });

  it('keeps accepting the bearer token on the API, with no CSRF header', async () => {
    const api = await testApi(standardHost(), audit);
    const res = await api.call({ method: 'POST', url: '/collectors/auth-log/pause', headers: { host: HOST } });
    expect(res.statusCode).toBe(200);
    await api.app.close();
  });
});

describe('session store', () => {
  it('ends a session after the idle time and after the absolute maximum, and bounds how many it keeps', () => {
    let t = 0;
    const store = new SessionStore({ idleSeconds: 10, maxAgeSeconds: 25, maxSessions: 3, now: () => t });
    const a = store.create();
    t = 9_000;
    expect(store.lookup(a.id)).toBeDefined();
    t = 18_000;
    expect(store.lookup(a.id)).toBeDefined();
    t = 25_000;
    expect(store.lookup(a.id)).toBeUndefined();
    const b = store.create();
    t = 36_000;
    expect(store.lookup(b.id)).toBeUndefined();
    const ids = [store.create(), store.create(), store.create(), store.create()].map((s) => s.id);
    expect(store.size).toBe(3);
    expect(store.lookup(ids[0]!)).toBeUndefined();
    expect(store.lookup(ids[3]!)).toBeDefined();
  });
});

describe('dashboard pages', () => {
  it('redirects /ui to the login page without a session and serves the app with a strict same-origin CSP', async () => {
    const { api, cookie } = await loggedIn();
    const anon = await api.call({ url: '/ui', auth: false, headers: { host: HOST } });
    expect(anon.statusCode).toBe(302);
    expect(anon.headers.location).toBe('/ui/login');
    const login = await api.call({ url: '/ui/login', auth: false, headers: { host: HOST } });
    expect(login.statusCode).toBe(200);
    expect(login.body).toContain('id="login-form"');
    const page = await api.call({ url: '/ui/', auth: false, headers: { host: HOST, cookie } });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe');
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(page.body).not.toMatch(/\sstyle=/);
    for (const asset of ['/ui/assets/app.js', '/ui/assets/login.js', '/ui/assets/app.css', '/ui/vendor/htm-preact.js', '/ui/vendor/uplot.js', '/ui/vendor/uplot.css']) {
      const res = await api.call({ url: asset, auth: false, headers: { host: HOST } });
      expect(res.statusCode, asset).toBe(200);
      expect(res.headers['content-type'], asset).toMatch(asset.endsWith('.js') ? /javascript/ : /text\/css/);
    }
    for (const bad of ['/ui/assets/..%2F..%2Fpackage.json', '/ui/assets/%2E%2E%2Fpackage.json', '/ui/vendor/package.json', '/ui/assets/index.html']) {
      const res = await api.call({ url: bad, auth: false, headers: { host: HOST } });
      expect(res.statusCode, bad).toBe(404);
      expect(res.body, bad).not.toContain('"name"');
    }
    await api.app.close();
  });
});

describe('detection feed', () => {
  it('keeps detections and correlation alerts the sink acknowledged, cut to bounded fields, with alert members and verdict evidence', async () => {
    const { host, api, cookie } = await loggedIn();
    const long = 'A'.repeat(5000);
    const events = [
      {
        '@timestamp': '2026-12-03T07:00:00Z',
        message: `<img src=x onerror=alert(1)> ${long}`,
        event: { id: 'sig-1', kind: 'alert' },
        fabric: {
          collector: 'auth-log',
          priority: 'medium',
          alert_type: 'detection',
          rule: { name: 'rf_failed_authentication', level: 'medium' },
          matches: [{ name: 'rf_failed_authentication', title: 'Failed' }],
        },
        rule: { name: 'Failed authentication' },
        source: { ip: '203.0.113.9' },
        user: { name: 'root' },
        threat: { technique: { id: ['T1110'] } },
      },
      { event: { id: 'raw-1', kind: 'event' }, fabric: { collector: 'auth-log' } },
      {
        '@timestamp': '2026-12-03T07:01:00Z',
        event: { id: 'corr-1', kind: 'alert' },
        rule: { name: 'Brute force then success' },
        fabric: {
          collector: 'correlation',
          priority: 'high',
          alert_type: 'correlation',
          rule: { name: 'rf_brute_force_then_success', level: 'high' },
          correlation: { members: ['sig-1', 'sig-2'] },
          reputation: {
            verdict: 'malicious',
            score: 92,
            explanation: 'abuseipdb: 100% confidence',
            indicators: [{ type: 'ipv4', value: '203.0.113.9', verdict: 'malicious', score: 92, secretField: 'x' }],
          },
        },
      },
    ] as unknown as FabricEvent[];
    host.events.emit('published', events);
    const res = await api.call({ url: '/detections', auth: false, headers: { host: HOST, cookie } });
    expect(res.statusCode).toBe(200);
    const list = res.json().detections as Array<Record<string, any>>;
    expect(list.map((d) => d.id)).toEqual(['sig-1', 'corr-1']);
    expect(list[0]!.message.length).toBeLessThanOrEqual(301);
    expect(list[0]).toMatchObject({
      kind: 'detection',
      priority: 'medium',
      rule: 'rf_failed_authentication',
      title: 'Failed authentication',
      sourceIp: '203.0.113.9',
      userName: 'root',
      techniques: ['T1110'],
      collector: 'auth-log',
    });
    expect(list[1]).toMatchObject({
      kind: 'correlation',
      rule: 'rf_brute_force_then_success',
      title: 'Brute force then success',
      members: ['sig-1', 'sig-2'],
      reputation: { verdict: 'malicious', score: 92, indicators: [{ type: 'ipv4', value: '203.0.113.9', verdict: 'malicious', score: 92 }] },
    });
    expect(JSON.stringify(list[1])).not.toContain('secretField');
    const after = await api.call({ url: `/detections?after=${list[0]!.seq}`, auth: false, headers: { host: HOST, cookie } });
    expect((after.json().detections as Array<{ id: string }>).map((d) => d.id)).toEqual(['corr-1']);
    await api.app.close();
  });
});

describe('failures stay out of the pipeline', () => {
  it('a feed subscriber that throws never reaches the publishing code, and the detection is still kept', () => {
    const host = standardHost();
    const errors: string[] = [];
    const feed = new DetectionFeed(host, 10, (err) => errors.push(err.message));
    feed.subscribe(() => {
      throw new Error('client write failed');
    });
    const event = { event: { id: 's1', kind: 'alert' }, fabric: { collector: 'auth-log', alert_type: 'detection', rule: { name: 'r' } } } as unknown as FabricEvent;
    expect(() => host.events.emit('published', [event])).not.toThrow();
    expect(errors).toEqual(['client write failed']);
    expect(feed.recent(10).map((d) => d.id)).toEqual(['s1']);
    feed.close();
  });

  it('a rate sample that fails is reported, not left as an unhandled rejection', async () => {
    const failed = new Promise<string>((resolve) => {
      const host = {
        metrics: new Registry(),
        listCollectors: () => [{ id: 'a' }],
        getCollector: () => {
          throw new Error('host went away');
        },
      } as unknown as FabricHost;
      const history = new RateHistory(host, 60_000, 3, Date.now, (err) => {
        history.stop();
        resolve(err.message);
      });
      history.start();
    });
    expect(await failed).toBe('host went away');
  });
});

describe('/feed stream', () => {
  it('streams new detections to a cookie session and caps streams per identity like /events', async () => {
    const host = standardHost();
    const api = await testApi(host, audit, { sse_max_clients_per_token: 1 });
    const base = await api.app.listen({ host: '127.0.0.1', port: 0 });
    const login = await fetch(`${base}/ui/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: TOKEN }) });
    const cookie = /fabric_session=[^;]+/.exec(login.headers.get('set-cookie')!)![0];
    const stop = new AbortController();
    try {
      const res = await fetch(`${base}/feed`, { headers: { cookie }, signal: stop.signal });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
      const second = await fetch(`${base}/feed`, { headers: { cookie } });
      expect(second.status).toBe(429);
      expect(((await second.json()) as { code: string }).code).toBe('TOO_MANY_STREAMS');
      const reader = res.body!.getReader();
      let text = '';
      host.events.emit('published', [
        {
          event: { id: 'live-1', kind: 'alert' },
          fabric: { collector: 'auth-log', priority: 'high', alert_type: 'detection', rule: { name: 'rf_live', level: 'high' } },
          rule: { name: 'Live rule' },
        },
      ] as unknown as FabricEvent[]);
      while (!text.includes('event: detection')) text += new TextDecoder().decode((await reader.read()).value);
      expect(text).toMatch(/id: 1\nevent: detection\ndata: \{[^\n]*"rule":"rf_live"/);
      audit.record(text);
    } finally {
      stop.abort();
      await api.app.close();
    }
  });
});

describe('restart budget', () => {
  it('counts automatic restarts within the period since the last manual start, not operator restarts', () => {
    const at = (s: number) => new Date(1_000_000 + s * 1000).toISOString();
    const now = 1_000_000 + 1000 * 1000;
    const history = [
      { at: at(10), from: 'running', to: 'restarting', event: 'HEALTH' },
      { at: at(11), from: 'restarting', to: 'starting', event: 'BACKOFF_ELAPSED' },
      { at: at(12), from: 'starting', to: 'failed', event: 'xstate.error.actor' },
      { at: at(800), from: 'failed', to: 'starting', event: 'START' },
      { at: at(801), from: 'starting', to: 'restarting', event: 'xstate.error.actor' },
      { at: at(900), from: 'running', to: 'restarting', event: 'RESTART' },
      { at: at(950), from: 'running', to: 'restarting', event: 'HEALTH' },
    ];
    expect(budgetUsed(history, 300, now)).toBe(2);
    // Older than the period: no longer counted.
    expect(budgetUsed(history, 100, now)).toBe(1);
  });
});

describe('rate history', () => {
  it('turns counters into per-collector rates, and keeps only the newest samples', async () => {
    const metrics = new Registry();
    new Gauge({ name: 'fabric_pipeline_queue_depth', help: 'q', labelNames: ['unit'], registers: [metrics] }).set({ unit: 'events' }, 12);
    const counts = { collected: 0, published: 0 };
    const host = {
      metrics,
      listCollectors: () => [{ id: 'a' }],
      getCollector: () => ({ metrics: { eventsCollected: counts.collected, eventsPublished: counts.published } }),
    } as unknown as FabricHost;
    let t = 1_000_000;
    const history = new RateHistory(host, 5000, 3, () => t);
    expect(await history.sample()).toBeUndefined();
    for (let i = 1; i <= 4; i++) {
      t += 5000;
      counts.collected += 50 * i;
      counts.published += 5;
      await history.sample();
    }
    const samples = history.samples();
    expect(samples).toHaveLength(3);
    expect(samples.map((s) => s.collectors.a!.in)).toEqual([20, 30, 40]);
    expect(samples.map((s) => s.published)).toEqual([1, 1, 1]);
    expect(samples[2]!.queueEvents).toBe(12);
    // A collector re-created with fresh counters is a reset, not a negative rate.
    t += 5000;
    counts.collected = 0;
    expect((await history.sample())!.collectors.a!.in).toBe(0);
  });
});

import { describe, expect, it } from 'vitest';
import { ErrorCodes, PluginError, Secret, Type, definePlugin } from '@reactive-fabric/core';
import type { Indicator, PollRequest, SourceEvent, Verdict } from '@reactive-fabric/core';
import { conformanceSuite } from '@reactive-fabric/test-kit';
import type { AnyPlugin, ConformanceOptions } from '@reactive-fabric/test-kit';

/** Run every check of the suite and return the failures by check name (message as value). */
async function failures(plugin: AnyPlugin, options: ConformanceOptions): Promise<Record<string, string>> {
  const suite = conformanceSuite(plugin, options);
  const out: Record<string, string> = {};
  await suite.setup();
  try {
    for (const check of suite.checks) {
      try {
        await check.run();
      } catch (err) {
        out[check.name] = (err as Error).message;
      }
    }
  } finally {
    await suite.teardown();
  }
  return out;
}

const failing = (f: Record<string, string>, fragment: string) => Object.entries(f).filter(([name]) => name.includes(fragment));

type Bug =
  | 'none'
  | 'ignores-checkpoint'
  | 'date-timestamp'
  | 'dotted-keys'
  | 'leaks-secret-in-describe'
  | 'logs-secret'
  | 'plain-errors'
  | 'ignores-abort'
  | 'start-not-idempotent'
  | 'ignores-max-events';

const SECRET = 'sk-live-5f1e2d3c4b5a';
const DATA = Array.from({ length: 7 }, (_, i) => ({ n: i + 1, at: `2024-05-01T10:00:0${i}.000Z` }));

/** A small source whose data is in memory (or behind `url`) with one deliberate bug. */
function toySource(bug: Bug) {
  return definePlugin({
    name: '@example/reactive-fabric-plugin-toy',
    version: '1.0.0',
    kind: 'source',
    apiVersion: '^1.0.0',
    configSchema: Type.Object(
      { api_key: Secret(), url: Type.Optional(Type.String({ pattern: '^https?://' })), label: Type.String({ default: 'toy' }) },
      { additionalProperties: false },
    ),
    create(config, context) {
      let started = false;
      return {
        async start() {
          if (bug === 'start-not-idempotent' && started) throw new PluginError(ErrorCodes.BAD_CONFIG, 'already started');
          started = true;
        },
        async stop() {
          started = false;
        },
        describe: () => ({ backend: 'toy', target: bug === 'leaks-secret-in-describe' ? `https://user:${config.api_key}@toy.example` : 'https://toy.example' }),
        async poll({ checkpoint, signal, maxEvents }: PollRequest) {
          if (bug === 'logs-secret') context.logger.info({ key: config.api_key }, 'polling');
          if (config.url) {
            let res: Response;
            try {
              res = await fetch(`${config.url}/items`, bug === 'ignores-abort' ? {} : { signal });
            } catch (err) {
              if (signal.aborted && bug !== 'ignores-abort') throw err;
              if (bug === 'plain-errors') throw new Error('fetch failed');
              throw new PluginError(ErrorCodes.UNAVAILABLE, 'toy backend unreachable', { cause: err });
            }
            if (bug === 'plain-errors') throw new Error(`HTTP ${res.status}`);
            if (res.status === 401) throw new PluginError(ErrorCodes.AUTH_FAILED, 'refused');
            if (res.status === 429) throw new PluginError(ErrorCodes.RATE_LIMITED, 'slow down', { retryAfterMs: Number(res.headers.get('retry-after')) * 1000 });
            if (res.status >= 500) throw new PluginError(ErrorCodes.UNAVAILABLE, `HTTP ${res.status}`);
            try {
              await res.json();
            } catch {
              throw new PluginError(ErrorCodes.BAD_RESPONSE, 'not JSON');
            }
            return { events: [], checkpoint: checkpoint ?? 0 };
          }
          const from = bug === 'ignores-checkpoint' ? 0 : typeof checkpoint === 'number' ? checkpoint : 0;
          const take = bug === 'ignores-max-events' ? DATA.length : maxEvents;
          const slice = DATA.slice(from, from + take);
          const events = slice.map((d): SourceEvent => {
            if (bug === 'date-timestamp') return { '@timestamp': new Date(d.at) as unknown as string, message: `n=${d.n}` };
            if (bug === 'dotted-keys') return { '@timestamp': d.at, message: `n=${d.n}`, 'source.ip': '192.0.2.1' };
            return { '@timestamp': d.at, message: `n=${d.n}`, source: { ip: '192.0.2.1' }, event: { kind: 'event', category: ['network'], type: ['info'] } };
          });
          return { events, checkpoint: from + slice.length, hasMore: from + slice.length < DATA.length };
        },
      };
    },
  });
}

const sourceOptions: ConformanceOptions = {
  validConfig: { api_key: SECRET },
  configForEndpoint: (url) => ({ api_key: SECRET, url }),
};

describe('conformance suite against a correct plugin', () => {
  it('passes every check', async () => {
    expect(await failures(toySource('none'), sourceOptions)).toEqual({});
  });
});

describe('conformance suite catches broken plugins', () => {
  it('an apiVersion range that excludes this core, naming both', async () => {
    const f = await failures({ ...toySource('none'), apiVersion: '^2.0.0' }, sourceOptions);
    expect(failing(f, 'apiVersion')[0]?.[1]).toMatch(/\^2\.0\.0.*1\.0\.0/);
    // Only that check fails: the behaviour checks still run and pass.
    expect(Object.keys(f)).toEqual(["declares an apiVersion semver range that accepts this core's PLUGIN_API_VERSION"]);
    expect(await failures({ ...toySource('none'), apiVersion: 'one' }, sourceOptions)).toHaveProperty([
      "declares an apiVersion semver range that accepts this core's PLUGIN_API_VERSION",
    ]);
  });

  it('a config schema that accepts unknown fields', async () => {
    const loose = { ...toySource('none'), configSchema: Type.Object({ api_key: Secret() }) };
    const f = await failures(loose, sourceOptions);
    expect(failing(f, 'valid npm name')[0]?.[1]).toMatch(/additionalProperties: false/);
  });

  it('a source that ignores its checkpoint re-emits events', async () => {
    const f = await failures(toySource('ignores-checkpoint'), { ...sourceOptions, maxPolls: 4 });
    expect(failing(f, 'never go backwards')[0]?.[1]).toMatch(/emitted \d times/);
    expect(failing(f, 'resuming')[0]?.[1]).toMatch(/emitted again after resuming/);
  });

  it('non-ECS events: Date objects and dotted keys, naming the field', async () => {
    const dates = await failures(toySource('date-timestamp'), sourceOptions);
    expect(failing(dates, 'valid ECS')[0]?.[1]).toMatch(/@timestamp/);
    const dotted = await failures(toySource('dotted-keys'), sourceOptions);
    expect(failing(dotted, 'valid ECS')[0]?.[1]).toMatch(/source\.ip: dotted key/);
  });

  it('a secret in describe() or in the logs', async () => {
    const d = await failures(toySource('leaks-secret-in-describe'), sourceOptions);
    expect(failing(d, 'describe()')[0]?.[1]).toMatch(/describe\(\) contains the secret value/);
    expect(failing(d, 'describe()')[0]?.[1]).not.toContain(SECRET);
    const l = await failures(toySource('logs-secret'), sourceOptions);
    expect(Object.keys(l)).toEqual(['no secret appears in any log record written during this suite']);
  });

  it('errors that are not PluginErrors with codes', async () => {
    const f = await failures(toySource('plain-errors'), sourceOptions);
    expect(failing(f, 'on HTTP 500')[0]?.[1]).toMatch(/instead of a PluginError/);
    expect(f).toHaveProperty(['every error thrown during this suite was a PluginError with a code (or an abort)']);
  });

  it('a poll that ignores its abort signal', async () => {
    const f = await failures(toySource('ignores-abort'), sourceOptions);
    expect(failing(f, 'honours abort')[0]?.[1]).toMatch(/did not settle within .* after its signal was aborted/);
  }, 30_000);

  it('start() that throws when called twice, and ignoring maxEvents', async () => {
    expect(Object.keys(await failures(toySource('start-not-idempotent'), sourceOptions))).toContain('stop() before start(), start() twice and stop() twice do not throw');
    const f = await failures(toySource('ignores-max-events'), sourceOptions);
    expect(failing(f, 'maxEvents')[0]?.[1]).toMatch(/returned 7 events but maxEvents was 1/);
  });

  it('a valid config that yields no data cannot pass vacuously', async () => {
    const empty = { ...toySource('none'), create: () => ({ poll: async () => ({ events: [], checkpoint: null }), describe: () => ({ backend: 'toy' }) }) };
    const f = await failures(empty, { validConfig: { api_key: SECRET } });
    expect(failing(f, 'yielding at least 1')[0]?.[1]).toMatch(/yielded 0 events/);
  });
});

type EnricherBug = 'none' | 'unknown-as-clean' | 'drops-verdicts' | 'score-out-of-range';

function toyEnricher(bug: EnricherBug) {
  const known: Record<string, Verdict['status']> = { '192.0.2.66': 'malicious' };
  return definePlugin({
    name: 'reactive-fabric-plugin-toy-intel',
    version: '1.0.0',
    kind: 'enricher',
    apiVersion: '^1.0.0',
    configSchema: Type.Object({ api_key: Secret() }, { additionalProperties: false }),
    create() {
      return {
        supports: ['ipv4', 'domain'] as const,
        describe: () => ({ backend: 'toy-intel' }),
        async lookup(indicators: Indicator[]): Promise<Verdict[]> {
          const out = indicators.map((indicator): Verdict => {
            const status = known[indicator.value];
            if (status) return { indicator, status, score: bug === 'score-out-of-range' ? 90 : 0.9 };
            return bug === 'unknown-as-clean' ? { indicator, status: 'clean', score: 0 } : { indicator, status: 'unknown' };
          });
          return bug === 'drops-verdicts' ? out.slice(0, 1) : out;
        },
      };
    },
  });
}

const enricherOptions: ConformanceOptions = { validConfig: { api_key: SECRET }, indicators: [{ type: 'ipv4', value: '192.0.2.66', expect: 'malicious' }] };

describe('conformance suite for enrichers', () => {
  it('passes a correct enricher', async () => {
    expect(await failures(toyEnricher('none'), enricherOptions)).toEqual({});
  });

  it('never-seen indicators reported as clean', async () => {
    const f = await failures(toyEnricher('unknown-as-clean'), enricherOptions);
    expect(failing(f, 'never seen')[0]?.[1]).toMatch(/expected "unknown", got "clean"/);
  });

  it('a feed the suite was not told about (or told about but missing)', async () => {
    const withFeed = {
      ...toyEnricher('none'),
      create: () => ({ ...(toyEnricher('none').create({ api_key: SECRET }, undefined as never) as object), poll: async () => ({ events: [], checkpoint: null }) }),
    } as unknown as AnyPlugin;
    expect(failing(await failures(withFeed, enricherOptions), 'has no poll() feed')[0]?.[1]).toMatch(/pass feed: true/);
    const f = await failures(toyEnricher('none'), { ...enricherOptions, feed: true });
    expect(failing(f, 'offers the poll() feed')[0]?.[1]).toMatch(/has no poll\(\)/);
  });

  it('fewer verdicts than indicators, and scores outside 0…1', async () => {
    expect(failing(await failures(toyEnricher('drops-verdicts'), enricherOptions), 'one valid verdict')[0]?.[1]).toMatch(/returned 1 verdicts for 3 indicators/);
    expect(failing(await failures(toyEnricher('score-out-of-range'), enricherOptions), 'one valid verdict')[0]?.[1]).toMatch(/score: must be a number 0…1, got 90/);
  });
});

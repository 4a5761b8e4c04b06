import { describe, expect, it } from 'vitest';
import { ErrorCodes, Secret, Type, definePlugin } from '@reactive-fabric/core';
import type { Checkpoint, PollRequest } from '@reactive-fabric/core';
import { checkPackageJson, createTestHost, derivedInvalidConfigs, validateEcsEvent } from '@reactive-fabric/test-kit';

describe('validateEcsEvent', () => {
  it('accepts a nested ECS event', () => {
    expect(
      validateEcsEvent({
        '@timestamp': '2024-05-01T12:00:00.000Z',
        event: { kind: 'event', category: ['authentication'], type: ['start'], outcome: 'failure' },
        source: { ip: '2001:db8::1', port: 22 },
        threat: { technique: { id: ['T1110', 'T1110.001'] } },
      }),
    ).toEqual([]);
  });

  it('names each broken field and says what it must be', () => {
    const problems = validateEcsEvent({
      '@timestamp': '01/05/2024 12:00',
      'user.name': 'root',
      event: { category: 'authentication', outcome: 'failed', severity: Number.NaN },
      source: { ip: 'not-an-ip', port: 70000 },
      threat: { technique: { id: ['Brute Force'] } },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^@timestamp: must be an ISO 8601/),
        expect.stringMatching(/^user\.name: dotted key/),
        expect.stringMatching(/^event\.category: must be an array/),
        expect.stringMatching(/^event\.outcome: must be one of success, failure, unknown, got "failed"/),
        expect.stringMatching(/^event\.severity: must be a finite number/),
        expect.stringMatching(/^source\.ip: must be an IPv4 or IPv6/),
        expect.stringMatching(/^source\.port: must be an integer port/),
        expect.stringMatching(/^threat\.technique\.id: must be an ATT&CK technique id/),
      ]),
    );
    expect(validateEcsEvent({ message: 'no time' })).toEqual(['@timestamp: required field is missing']);
  });
});

const counter = definePlugin({
  name: 'reactive-fabric-plugin-counter',
  version: '0.1.0',
  kind: 'source',
  apiVersion: '^1.0.0',
  configSchema: Type.Object({ total: Type.Integer({ minimum: 1, default: 5 }), token: Type.Optional(Secret()) }, { additionalProperties: false }),
  create(config) {
    return {
      async poll({ checkpoint, maxEvents }: PollRequest) {
        const from = (checkpoint as { next?: number } | undefined)?.next ?? 0;
        const to = Math.min(config.total, from + maxEvents);
        const events = Array.from({ length: to - from }, (_, i) => ({ '@timestamp': new Date(Date.UTC(2024, 0, 1, 0, 0, from + i)).toISOString(), message: `#${from + i}` }));
        return { events, checkpoint: { next: to } as Checkpoint, hasMore: to < config.total };
      },
    };
  },
});

describe('createTestHost', () => {
  it('applies defaults and carries JSON checkpoints from poll to poll', async () => {
    const host = await createTestHost(counter, {}, { maxEvents: 2 });
    expect(host.config).toEqual({ total: 5 });
    await host.start();
    const all = await host.pollUntilIdle();
    expect(all.map((e) => e.message)).toEqual(['#0', '#1', '#2', '#3', '#4']);
    expect(host.checkpoint).toEqual({ next: 5 });
    await host.dispose();
  });

  it('refuses an invalid config with BAD_CONFIG naming the field path', async () => {
    await expect(createTestHost(counter, { total: 0, extra: 1 })).rejects.toMatchObject({
      code: ErrorCodes.BAD_CONFIG,
      message: expect.stringContaining('/extra: unknown field "extra"'),
    });
    await expect(createTestHost(counter, { total: 0 })).rejects.toThrow(/\/total: /);
  });

  it('turns a poll result that breaks the contract into CONTRACT_VIOLATION', async () => {
    const broken = { ...counter, create: () => ({ poll: async () => ({ events: [{ message: 'no time' }], checkpoint: new Date() }) }) } as unknown as typeof counter;
    const host = await createTestHost(broken, {});
    await expect(host.poll()).rejects.toMatchObject({
      code: ErrorCodes.CONTRACT_VIOLATION,
      message: expect.stringMatching(/@timestamp: required.*checkpoint: changes when written as JSON/s),
    });
    await host.dispose();
  });

  it('gives up with TIMEOUT when a poll ignores its signal past the grace period', async () => {
    const stuck = { ...counter, create: () => ({ poll: () => new Promise(() => undefined) }) } as unknown as typeof counter;
    const host = await createTestHost(stuck, {}, { timeoutMs: 50, abortGraceMs: 100 });
    await expect(host.poll()).rejects.toMatchObject({ code: ErrorCodes.TIMEOUT, detail: { ignoredAbort: true } });
    await host.dispose();
  });
});

describe('derivedInvalidConfigs', () => {
  it('derives an unknown field, each required field missing and each wrongly typed field', () => {
    const schema = Type.Object(
      { url: Type.String(), port: Type.Integer({ default: 443 }), mode: Type.Union([Type.Literal('a'), Type.Literal('b')]) },
      { additionalProperties: false },
    );
    const cases = derivedInvalidConfigs(schema, { url: 'https://x', mode: 'a' });
    expect(cases.map((c) => c.path)).toEqual(['/rf_conformance_unknown_field', '/url', '/mode', '/url', '/port', '/mode']);
  });
});

describe('checkPackageJson', () => {
  const definition = { name: 'reactive-fabric-plugin-x', version: '1.2.0', kind: 'source', apiVersion: '^1.0.0' };
  const good = {
    name: 'reactive-fabric-plugin-x',
    version: '1.2.0',
    keywords: ['reactive-fabric-plugin'],
    reactiveFabric: { pluginApi: '^1.0.0', kind: 'source' },
    peerDependencies: { '@reactive-fabric/core': '^0.1.0' },
  };

  it('accepts a package.json that agrees with the definition', () => {
    expect(checkPackageJson(good, definition)).toEqual([]);
  });

  it('names every disagreement and the fix', () => {
    const problems = checkPackageJson(
      {
        ...good,
        version: '1.3.0',
        keywords: [],
        reactiveFabric: { pluginApi: '^2.0.0', kind: 'enricher' },
        peerDependencies: {},
        dependencies: { '@reactive-fabric/core': '^0.1.0' },
      },
      definition,
    );
    expect(problems).toEqual([
      expect.stringMatching(/^version: package.json says "1.3.0", definePlugin says "1.2.0"/),
      expect.stringMatching(/^reactiveFabric.pluginApi: package.json says "\^2.0.0", definePlugin apiVersion says "\^1.0.0"/),
      expect.stringMatching(/^reactiveFabric.kind: package.json says "enricher", definePlugin says "source"/),
      expect.stringMatching(/^keywords: add "reactive-fabric-plugin"/),
      expect.stringMatching(/^peerDependencies: must list @reactive-fabric\/core/),
      expect.stringMatching(/^dependencies: must not list @reactive-fabric\/core/),
    ]);
    expect(checkPackageJson({ name: 'other' }, definition)[1]).toMatch(/^version/);
    expect(checkPackageJson({ ...good, reactiveFabric: undefined }, definition)).toEqual([
      expect.stringMatching(/^reactiveFabric: missing; add "reactiveFabric": \{ "pluginApi": "\^1.0.0", "kind": "source" \}/),
    ]);
  });
});

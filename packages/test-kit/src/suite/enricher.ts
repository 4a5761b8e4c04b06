import { randomBytes } from 'node:crypto';
import { INDICATOR_TYPES } from '@reactive-fabric/core';
import type { Indicator, IndicatorType } from '@reactive-fabric/core';
import { findLeakedSecrets } from '../checks/secrets.js';
import { lookupContractProblems } from '../host.js';
import { expectNone, fail } from './context.js';
import type { SuiteContext } from './context.js';
import type { ConformanceCheck } from './types.js';

/** Whether the instance has the poll() feed options.feed says it has (its events are checked by sourceChecks). */
export function feedDeclarationCheck(s: SuiteContext): ConformanceCheck {
  const { options, definitionOk, host } = s;
  return s.check('enricher', options.feed ? 'offers the poll() feed the suite was told about' : 'has no poll() feed (pass feed: true to test one)', async () => {
    definitionOk();
    const h = await host(s.config);
    try {
      const has = typeof (h.instance as { poll?: unknown }).poll === 'function';
      if (has && !options.feed) fail('the instance has a poll() feed: pass feed: true so the suite checks its events and checkpoints');
      if (!has && options.feed) fail('feed: true was passed, but the instance created from validConfig has no poll()');
    } finally {
      await h.dispose();
    }
  });
}

export function enricherChecks(s: SuiteContext): ConformanceCheck[] {
  const { options, definitionOk, host } = s;
  return [
    s.check('enricher', 'supports a non-empty list of known indicator types; limits are positive', async () => {
      definitionOk();
      const h = await host(s.config);
      try {
        const inst = h.instance as { supports?: unknown; limits?: Record<string, unknown> };
        const problems: string[] = [];
        if (!Array.isArray(inst.supports) || inst.supports.length === 0) problems.push('supports: must be a non-empty array of indicator types');
        else {
          for (const t of inst.supports)
            if (!INDICATOR_TYPES.includes(t as IndicatorType)) problems.push(`supports: unknown indicator type ${JSON.stringify(t)} (known: ${INDICATOR_TYPES.join(', ')})`);
          if (new Set(inst.supports).size !== inst.supports.length) problems.push('supports: lists a type twice');
        }
        for (const [k, v] of Object.entries(inst.limits ?? {})) {
          if (v !== undefined && !(typeof v === 'number' && v > 0 && Number.isFinite(v))) problems.push(`limits.${k}: must be a positive number, got ${JSON.stringify(v)}`);
        }
        const key1 = (h.instance as { cacheKey?: () => unknown }).cacheKey?.();
        const key2 = (h.instance as { cacheKey?: () => unknown }).cacheKey?.();
        if (key1 !== undefined && (typeof key1 !== 'string' || key1 !== key2)) problems.push('cacheKey(): must return the same string on every call');
        expectNone('enricher shape problems', problems);
      } finally {
        await h.dispose();
      }
    }),
    s.check('enricher', 'lookup() returns exactly one valid verdict per indicator', async () => {
      definitionOk();
      const h = await host(s.config, { strict: false });
      try {
        await h.start();
        const supports = (h.instance as { supports: readonly IndicatorType[] }).supports;
        const known = (options.indicators ?? []).filter((i) => supports.includes(i.type));
        const unknown = options.unknownIndicators ?? supports.map(randomIndicator);
        const asked = [...known.map(({ type, value }) => ({ type, value })), ...unknown];
        const verdicts = await h.lookup(asked);
        const problems = lookupContractProblems(asked, verdicts);
        for (const k of known) {
          if (!k.expect) continue;
          const v = verdicts.find((x) => x?.indicator?.type === k.type && x.indicator.value === k.value);
          if (v && v.status !== k.expect) problems.push(`${k.type}:${k.value}: expected status ${k.expect}, got ${v.status}`);
        }
        problems.push(...findLeakedSecrets(s.secrets, { verdicts }));
        expectNone('lookup() problems', problems);
      } catch (err) {
        s.thrown.push(err);
        throw err;
      } finally {
        await h.dispose();
      }
    }),
    s.check('enricher', 'an indicator the source has never seen gets status "unknown" (not an error, not "clean")', async () => {
      definitionOk();
      const h = await host(s.config, { strict: false });
      try {
        await h.start();
        const supports = (h.instance as { supports: readonly IndicatorType[] }).supports;
        const unknown = options.unknownIndicators ?? supports.map(randomIndicator);
        const verdicts = await h.lookup(unknown);
        const problems = lookupContractProblems(unknown, verdicts);
        for (const v of verdicts) if (v?.status !== 'unknown') problems.push(`${v?.indicator?.type}:${v?.indicator?.value}: expected "unknown", got ${JSON.stringify(v?.status)}`);
        expectNone('never-seen indicators', problems);
      } catch (err) {
        s.thrown.push(err);
        throw err;
      } finally {
        await h.dispose();
      }
    }),
  ];
}

/** A syntactically valid indicator no backend has seen (random, from documentation ranges). */
export function randomIndicator(type: IndicatorType): Indicator {
  const hex = (bytes: number) => randomBytes(bytes).toString('hex');
  const n = randomBytes(2);
  switch (type) {
    case 'ipv4':
      // 198.18.0.0/15 (benchmarking): fakes seed TEST-NET addresses, never these.
      return { type, value: `198.19.${n[0]!}.${(n[1]! % 250) + 1}` };
    case 'ipv6':
      return { type, value: `2001:db8:ffff:${hex(2)}::${hex(2)}` };
    case 'domain':
      return { type, value: `never-seen-${hex(6)}.example` };
    case 'url':
      return { type, value: `http://never-seen-${hex(6)}.example/${hex(4)}` };
    case 'md5':
      return { type, value: hex(16) };
    case 'sha1':
      return { type, value: hex(20) };
    case 'sha256':
      return { type, value: hex(32) };
    default:
      return { type, value: hex(8) };
  }
}

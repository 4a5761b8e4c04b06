import { describe, expect, it } from 'vitest';
import { annotateDetection } from '../../src/detection/annotate.js';
import type { RuleInfo } from '../../src/detection/engine.js';
import { normalizeEvent } from '../../src/events/normalize.js';

/**
 * Normalisation and annotation set fields on the event's own objects (no copies): whatever a source
 * put under `event`, `fabric`, `ecs` or `threat` must neither break that nor reach a prototype.
 */
const rule: RuleInfo = {
  index: 0,
  id: 'r-1',
  name: 'rf_failed_authentication',
  title: 'Failed Authentication',
  description: 'd',
  author: 'a',
  references: ['https://attack.mitre.org/techniques/T1110/'],
  level: 'low',
  techniques: ['T1110'],
  tactics: ['Credential Access'],
};
const from = { collector: 'c', plugin: 'p' };

function detect(input: Record<string, unknown>): Record<string, unknown> {
  const r = normalizeEvent({ '@timestamp': '2026-12-05T00:00:00Z', message: 'Failed password', ...input }, from);
  if (!r.ok) throw new Error(r.reason);
  return annotateDetection(r.event as unknown as Record<string, unknown>, [rule]);
}

describe('normalisation and annotation in place, on hostile sources', () => {
  it.each([
    ['strings', { event: 'x', fabric: 'x', ecs: 'x', threat: 'x' }],
    ['arrays', { event: [1, 2], fabric: ['a'], ecs: [], threat: [{}] }],
    ['numbers and null', { event: 5, fabric: null, ecs: 0, threat: true }],
  ])('%s under event, fabric, ecs and threat are replaced by objects carrying the detection', (_, input) => {
    const ev = detect(input);
    expect(ev.event).toMatchObject({ kind: 'alert', severity: 21 });
    expect(ev.fabric).toMatchObject({ collector: 'c', plugin: 'p', alert_type: 'detection', priority: 'low', rule: { name: 'rf_failed_authentication', level: 'low' } });
    expect(ev.ecs).toEqual({ version: expect.any(String) });
    expect(ev.threat).toEqual({ framework: 'MITRE ATT&CK', technique: { id: ['T1110'] }, tactic: { name: ['Credential Access'] } });
    for (const k of ['event', 'fabric', 'ecs', 'threat']) expect(Array.isArray(ev[k])).toBe(false);
  });

  it('a source cannot choose provenance or fingerprint, and keeps its other fabric and threat fields', () => {
    const ev = detect({ fabric: { collector: 'forged', fingerprint: 'forged', schema_version: '9', note: 'kept' }, threat: { indicator: { ip: '203.0.113.9' } } });
    const fabric = ev.fabric as Record<string, unknown>;
    expect(fabric.collector).toBe('c');
    expect(fabric.fingerprint).not.toBe('forged');
    expect(fabric.schema_version).not.toBe('9');
    expect(fabric.note).toBe('kept');
    expect((ev.threat as Record<string, unknown>).indicator).toEqual({ ip: '203.0.113.9' });
  });

  it('__proto__ and constructor keys stay data: nothing polluted, the fields still set', () => {
    const input = JSON.parse(
      '{"fabric":{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}},"event":{"__proto__":{"kind":"x"}},"ecs":{"constructor":"x"}}',
    ) as Record<string, unknown>;
    const ev = detect(input);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(ev.fabric)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(ev.event)).toBe(Object.prototype);
    expect((ev.event as Record<string, unknown>).kind).toBe('alert');
    expect((ev.fabric as Record<string, unknown>).alert_type).toBe('detection');
    expect((ev.ecs as Record<string, unknown>).constructor).toBe('x');
  });

  it('each event gets objects of its own: annotating one never changes another from the same source object', () => {
    const shared = { event: { action: 'ssh_login' }, fabric: { note: 'n' } };
    const a = detect(shared);
    const b = detect(shared);
    (a.event as Record<string, unknown>).action = 'changed';
    (a.threat as { technique: { id: string[] } }).technique.id.push('T9999');
    expect((b.event as Record<string, unknown>).action).toBe('ssh_login');
    expect((b.threat as { technique: { id: string[] } }).technique.id).toEqual(['T1110']);
    expect(shared.event).toEqual({ action: 'ssh_login' });
    expect(shared.fabric).toEqual({ note: 'n' });
  });
});

import { describe, expect, it } from 'vitest';
import { FiredAlerts } from '../../src/correlation/fired-alerts.js';

describe('fired alerts', () => {
  it('recognises an id that fired already, and hands each new id to one delta (again after retry)', () => {
    const fired = new FiredAlerts(10);
    expect(fired.kept).toBe(1000);
    expect(fired.record('a')).toBe(false);
    expect(fired.record('a')).toBe(true);
    expect(fired.record('b')).toBe(false);
    const first = fired.takeSince(false);
    expect(first.ids).toEqual(['a', 'b']);
    expect(fired.takeSince(false).ids).toEqual([]);
    first.retry();
    fired.record('c');
    expect(fired.takeSince(false).ids).toEqual(['a', 'b', 'c']);
    expect(fired.takeSince(true).ids).toEqual(['a', 'b', 'c']);
  });

  it('remembers at most max(1000, max_keys) ids, least recently fired forgotten first', () => {
    const fired = new FiredAlerts(1500);
    for (let i = 0; i < 1600; i++) fired.record(`id${i}`);
    const all = fired.all();
    expect(all).toHaveLength(1500);
    expect(all[0]).toBe('id100');
    fired.restore(['id0']);
    expect(fired.record('id0')).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { DetectionEngine } from '../../src/detection/engine.js';
import { loadRules } from '../../src/detection/sigma/loader.js';
import { loghub } from './loghub.js';

/**
 * The built-in authentication rules against loghub's labelled Linux_2k.log (a 2005 Red Hat
 * /var/log/messages): which lines are failed or successful authentications is read from the
 * loghub authors' templates, not from our rules.
 */
describe('built-in authentication rules on loghub Linux_2k.log', () => {
  const { log, structured, templates } = loghub('Linux_2k');

  /**
   * One line per failed attempt: PAM "authentication failure;" (sshd, gdm), klogind "Authentication
   * failed from <ip>", gdm "Couldn't authenticate user". Not counted (same attempt, logged twice):
   * klogind's "Kerberos authentication failed" right after its "Authentication failed from", and
   * PAM's "check pass; user unknown" right before its "authentication failure;". The rule must not
   * flag those either (they count as false positives below).
   */
  const failedTemplate = (t: string) => /^authentication failure;/.test(t) || /^Authentication failed from /.test(t) || /^Couldn't authenticate user/.test(t);
  /** A PAM session opened (su, sshd, login are the only openers in this file) or a root console login. */
  const successTemplate = (t: string) => /^session opened for user /.test(t) || /^ROOT LOGIN ON /.test(t);

  const ids = (f: (t: string) => boolean) => new Set(templates.filter((t) => f(t.EventTemplate!)).map((t) => t.EventId!));
  const failedIds = ids(failedTemplate);
  const successIds = ids(successTemplate);
  const lines = (s: Set<string>) => new Set(structured.filter((r) => s.has(r.EventId!)).map((r) => Number(r.LineId)));
  const failed = lines(failedIds);
  const success = lines(successIds);

  it('reads the labels: the templates and line counts the CSV gives', () => {
    expect(structured).toHaveLength(2000);
    expect([...failedIds].sort()).toEqual(['E13', 'E14', 'E15', 'E16', 'E17', 'E18', 'E19', 'E31']);
    expect([...successIds].sort()).toEqual(['E102', 'E103', 'E91']);
    // E13 8 + E14 15 + E15 1 + E16 117 + E17 17 + E18 351 + E19 4 + E31 1; E102 122 + E103 1 + E91 1.
    expect(failed.size).toBe(514);
    expect(success.size).toBe(124);
  });

  it('rf_failed_authentication and rf_successful_authentication: recall ≥ 0.99, no false positives', async () => {
    const { rules } = await loadRules([], { builtin: true });
    const engine = new DetectionEngine({ rules });
    const flagged = (name: string) => {
      const idx = engine.rules.find((r) => r.name === name)!.index;
      const res = engine.scanText(log);
      const out = new Set<number>();
      for (let i = 0; i < res.hits.length; i += 2) if (res.hits[i + 1] === idx) out.add(res.hits[i]! + 1);
      return out;
    };
    for (const [name, expected] of [
      ['rf_failed_authentication', failed],
      ['rf_successful_authentication', success],
    ] as const) {
      const got = flagged(name);
      const hits = [...expected].filter((l) => got.has(l)).length;
      const falsePositives = [...got].filter((l) => !expected.has(l));
      const missed = [...expected].filter((l) => !got.has(l));
      expect(falsePositives, `${name}: lines flagged that the labels do not call so`).toEqual([]);
      expect(hits / expected.size, `${name} recall; missed lines ${missed.slice(0, 10).join(', ')}`).toBeGreaterThanOrEqual(0.99);
    }
  });
});

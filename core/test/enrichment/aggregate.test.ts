import { describe, expect, it } from 'vitest';
import { aggregate } from '../../src/enrichment/index.js';
import type { IndicatorAnswers } from '../../src/enrichment/index.js';

const settings = { defaultConfidence: 0.5, maliciousAt: 0.7, suspiciousAt: 0.4 };
const ip = { type: 'ipv4' as const, value: '45.33.32.156' };
const dom = { type: 'domain' as const, value: 'c2.bad-actor.io' };

describe('reputation aggregation', () => {
  it('is a weight-and-confidence weighted mean, with the numbers explained', () => {
    const input: IndicatorAnswers[] = [
      {
        indicator: ip,
        fields: ['source.ip'],
        answers: [
          { source: 'vt', weight: 1, verdict: { indicator: ip, status: 'malicious', score: 0.9, confidence: 0.8 } },
          { source: 'abuseipdb', weight: 2, verdict: { indicator: ip, status: 'suspicious', score: 0.5, confidence: 1 } },
          { source: 'otx', weight: 1, unanswered: { reason: 'DEADLINE' } },
        ],
      },
    ];
    const rep = aggregate(input, settings);
    // (1·0.8·0.9 + 2·1·0.5) / (1·0.8 + 2·1) = 1.72 / 2.8
    expect(rep.score).toBe(0.614);
    // answered weight·confidence 2.8 / asked weight 4
    expect(rep.confidence).toBe(0.7);
    expect(rep.verdict).toBe('suspicious');
    expect(rep.sourcesAnswered).toEqual(['abuseipdb', 'vt']);
    expect(rep.sourcesUnanswered).toEqual([{ source: 'otx', reason: 'DEADLINE', indicators: 1 }]);
    expect(rep.explanation).toBe(
      'score 0.614 (suspicious) from ipv4 45.33.32.156, the highest-scoring of 1 indicator, confidence 0.700. ' +
        'ipv4 45.33.32.156: 0.614 = weighted mean of abuseipdb suspicious 0.500 (weight 2 × confidence 1.00), vt malicious 0.900 (weight 1 × confidence 0.80); ' +
        'confidence 0.700 = 2.80 answered weight·confidence / 4 asked weight; unanswered: otx (DEADLINE)',
    );
  });

  it('gives the same result whatever order sources and answers arrive in', () => {
    const answers = [
      { source: 'vt', weight: 1, verdict: { indicator: dom, status: 'malicious' as const } },
      { source: 'otx', weight: 1, verdict: { indicator: dom, status: 'clean' as const, confidence: 0.9 } },
      { source: 'misp', weight: 0.5, verdict: { indicator: dom, status: 'suspicious' as const, score: 0.7 } },
    ];
    const a = aggregate([{ indicator: dom, fields: ['dns.question.name'], answers }], settings);
    const b = aggregate([{ indicator: dom, fields: ['dns.question.name'], answers: [...answers].reverse() }], settings);
    expect(b).toEqual(a);
    // malicious → 1 and suspicious's own 0.7: (0.5·1 + 0.9·0 + 0.25·0.7) / (0.5 + 0.9 + 0.25)
    expect(a.score).toBe(0.409);
  });

  it('takes the most malicious indicator; "unknown" is never "clean"', () => {
    const rep = aggregate(
      [
        { indicator: dom, fields: ['dns.question.name'], answers: [{ source: 'vt', weight: 1, verdict: { indicator: dom, status: 'clean', score: 0.05, confidence: 1 } }] },
        { indicator: ip, fields: ['source.ip'], answers: [{ source: 'vt', weight: 1, verdict: { indicator: ip, status: 'malicious', score: 0.95, confidence: 1 } }] },
      ],
      settings,
    );
    expect(rep).toMatchObject({ score: 0.95, verdict: 'malicious', decidedBy: ip });

    const unknown = aggregate([{ indicator: ip, fields: ['source.ip'], answers: [{ source: 'vt', weight: 1, verdict: { indicator: ip, status: 'unknown' } }] }], settings);
    expect(unknown.score).toBeUndefined();
    expect(unknown.verdict).toBe('unknown');
    expect(unknown.confidence).toBe(0);
    expect(unknown.sourcesAnswered).toEqual(['vt']);
    expect(unknown.explanation).toContain('ipv4 45.33.32.156: no verdict (unknown to vt)');
  });
});

import path from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadRules } from '../../src/detection/sigma/loader.js';
import { DetectionEngine } from '../../src/detection/engine.js';
import { datasets } from './helpers.js';
import { parseCsv } from './loghub.js';

const dir = path.join(datasets, 'loghub');

/** The template's <*> parameters, read back from the line's content. */
function params(template: string, content: string): string[] | undefined {
  const re = new RegExp(
    '^' +
      template
        .split('<*>')
        .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('(.*?)') +
      '$',
  );
  const m = re.exec(content);
  return m ? m.slice(1) : undefined;
}

describe('rf_failed_authentication on loghub OpenSSH_2k.log', () => {
  const templates = parseCsv(readFileSync(path.join(dir, 'OpenSSH_2k.log_templates.csv'), 'utf8'));
  const structured = parseCsv(readFileSync(path.join(dir, 'OpenSSH_2k.log_structured.csv'), 'utf8'));
  const log = readFileSync(path.join(dir, 'OpenSSH_2k.log'), 'utf8');

  /**
   * One failed attempt per line, by the loghub authors' templates: "Failed <method> for …"
   * (incl. "message repeated N times: [ Failed password …]"), "Invalid user … from …", and
   * "pam_unix(sshd:auth): authentication failure". Left out on purpose: the echo of an invalid
   * user by input_userauth_request (E12, same attempt as E13), the "PAM n more authentication
   * failures" summaries, "Too many authentication failures" disconnects, and "check pass; user unknown".
   */
  const failedTemplate = (t: string) =>
    /^(?:message repeated <\*> times: \[ )?Failed \S+ for /.test(t) || /^Invalid user /.test(t) || /^pam_unix\(sshd:auth\): authentication failure;/.test(t);
  const failedIds = new Set(templates.filter((t) => failedTemplate(t.EventTemplate!)).map((t) => t.EventId!));
  const labelled = structured.filter((r) => failedIds.has(r.EventId!));

  it('selects the failed-authentication templates of the labels', () => {
    expect([...failedIds].sort()).toEqual(['E10', 'E13', 'E14', 'E19', 'E20', 'E8', 'E9']);
    expect(structured).toHaveLength(2000);
    // E8 4 + E9 383 + E10 135 + E13 113 + E14 2 + E19 110 + E20 384, counted from the CSV.
    expect(labelled).toHaveLength(1131);
  });

  it('flags exactly the labelled lines and extracts source.ip and user.name that agree with the labels', async () => {
    const { rules } = await loadRules([], { builtin: true });
    const engine = new DetectionEngine({ rules });
    const rule = engine.rules.find((r) => r.name === 'rf_failed_authentication')!;
    const res = engine.scanText(log, true);
    const flagged = new Set<number>();
    for (let i = 0; i < res.hits.length; i += 2) if (res.hits[i + 1] === rule.index) flagged.add(res.hits[i]! + 1);
    const expected = new Set(labelled.map((r) => Number(r.LineId)));
    expect(flagged.size).toBe(expected.size);
    expect([...flagged].filter((l) => !expected.has(l))).toEqual([]);
    expect([...expected].filter((l) => !flagged.has(l))).toEqual([]);

    const byTemplate = new Map(templates.map((t) => [t.EventId!, t.EventTemplate!]));
    let users = 0;
    for (const row of labelled) {
      const p = params(byTemplate.get(row.EventId!)!, row.Content!);
      expect(p, `line ${row.LineId} should fit its template`).toBeDefined();
      const f = res.fields![Number(row.LineId) - 1]!;
      let ip: string;
      let user: string | undefined;
      switch (row.EventId) {
        case 'E8':
        case 'E9':
        case 'E10':
        case 'E13':
          [user, ip] = [p![0]!, p![1]!];
          break;
        case 'E14':
          [user, ip] = ['root', p![1]!];
          break;
        case 'E19':
          ip = p![2]!;
          break;
        default:
          [ip, user] = [p![2]!, p![3]!];
      }
      const extractedIp = f['source.ip'] ?? f['source.domain'];
      // The labels keep the line's trailing space inside the last parameter.
      expect(extractedIp, `line ${row.LineId}`).toBe(ip.trimEnd());
      if (user !== undefined) {
        expect(f['user.name'], `line ${row.LineId}`).toBe(user.trimEnd());
        users++;
      } else expect(f['user.name']).toBeUndefined();
    }
    // Every labelled line but the 110 E19 ones (no user in the template) carries a user name.
    expect(users).toBe(labelled.length - labelled.filter((r) => r.EventId === 'E19').length);
  });
});

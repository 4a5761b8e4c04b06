import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompileSession } from '../../src/detection/sigma/context.js';
import { LogsourceResolver } from '../../src/detection/sigma/logsource.js';
import { parseRuleText } from '../../src/detection/sigma/loader.js';
import { DetectionEngine } from '../../src/detection/engine.js';
import type { SigmaRule } from '../../src/detection/sigma/rule.js';
import type { Refusal } from '../../src/detection/sigma/errors.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const datasets = path.resolve(repoRoot, '../shared/datasets');

export function parse(yaml: string, file = 'rule.yml'): { rules: SigmaRule[]; refusals: Refusal[] } {
  return parseRuleText(file, yaml, new LogsourceResolver(new CompileSession()));
}

/** A rule from YAML (logsource product linux unless given), compiled without extractors. */
export function ruleFrom(detection: string, logsource = 'product: linux'): SigmaRule {
  const yaml = `title: test\nid: t-1\nlogsource:\n    ${logsource}\ndetection:\n${detection
    .split('\n')
    .map((l) => '    ' + l)
    .join('\n')}\nlevel: high\n`;
  const r = parse(yaml);
  if (r.refusals.length) throw new Error(`refused: ${r.refusals.map((x) => x.message).join('; ')}`);
  return r.rules[0]!;
}

/** Returns a function telling whether the rule matches a flat record. */
export function matcher(detection: string): (rec: Record<string, unknown>) => boolean {
  const engine = new DetectionEngine({ rules: [ruleFrom(detection)], builtinExtractors: false });
  return (rec) => engine.evaluate({ ...rec }) !== undefined;
}

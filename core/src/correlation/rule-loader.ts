import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { validateCorrelationDocument } from './rule-document.js';
import { CorrelationRuleError, type CorrelationRuleProblem } from './rule-problem.js';
import { checkRuleSet } from './rule-set.js';
import type { CorrelationRule } from './rule.js';

// Files and YAML text to rules. Each document is checked on its own (rule-document.ts); the
// checks across rules (rule-set.ts) run once every file is read, as they need the whole set.

/** Parse a (multi-document) YAML text of correlation rules. */
export function parseCorrelationRules(text: string, file: string): { rules: CorrelationRule[]; problems: CorrelationRuleProblem[] } {
  const rules: CorrelationRule[] = [];
  const problems: CorrelationRuleProblem[] = [];
  const docs = parseAllDocuments(text, { prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
    const document = i + 1;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) problems.push({ file, document, message: `YAML syntax: ${e.message.split('\n')[0]}` });
      return;
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return; // empty document (trailing ---)
    const r = validateCorrelationDocument(value, file, document);
    problems.push(...r.problems);
    if (r.rule) rules.push(r.rule);
  });
  return { rules, problems };
}

async function expand(p: string, out: string[], explicit: boolean): Promise<void> {
  let s;
  try {
    s = await stat(p);
  } catch (err) {
    throw new CorrelationRuleError([
      { file: p, message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)} (check correlation.rules paths; they are relative to the config file)` },
    ]);
  }
  if (s.isDirectory()) {
    const entries = (await readdir(p)).sort();
    for (const e of entries) {
      if (e.startsWith('.')) continue;
      const child = path.join(p, e);
      const cs = await stat(child);
      if (cs.isDirectory() || /\.ya?ml$/i.test(e)) await expand(child, out, false);
    }
  } else if (explicit || /\.ya?ml$/i.test(p)) {
    out.push(p);
  }
}

/** Parse every rule file under `paths`, each on its own (no cross-rule checks). */
export async function readCorrelationRules(paths: string | readonly string[]): Promise<{ rules: CorrelationRule[]; problems: CorrelationRuleProblem[] }> {
  const files: string[] = [];
  for (const p of typeof paths === 'string' ? [paths] : paths) await expand(p, files, true);
  const rules: CorrelationRule[] = [];
  const problems: CorrelationRuleProblem[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    const r = parseCorrelationRules(text, file);
    rules.push(...r.rules);
    problems.push(...r.problems);
  }
  return { rules, problems };
}

/**
 * Load correlation rules from files and folders (.yml/.yaml, recursively, in name order).
 * Throws CorrelationRuleError listing every refused document with file, document number,
 * attribute and the fix. Pass the detection rule set to also refuse references to unknown rules.
 */
export async function loadCorrelationRules(
  paths: string | readonly string[],
  options: { detectionRules?: ReadonlyArray<{ id?: string; name?: string }> } = {},
): Promise<CorrelationRule[]> {
  const { rules, problems } = await readCorrelationRules(paths);
  problems.push(...checkRuleSet(rules, options.detectionRules));
  if (problems.length > 0) throw new CorrelationRuleError(problems);
  return rules;
}

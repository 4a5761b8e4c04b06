import { FabricError } from '../errors/fabric-error.js';

/** Why a correlation rule is refused: where, and the fix. Every check reports all it finds. */
export interface CorrelationRuleProblem {
  file: string;
  /** 1-based document number in a multi-document YAML file. */
  document?: number;
  /** The rule's id, name or title when known. */
  rule?: string;
  /** Dotted path of the offending attribute, e.g. `correlation.timespan`. */
  field?: string;
  message: string;
}

export function formatProblem(p: CorrelationRuleProblem): string {
  const where = [p.file, p.document !== undefined ? `document ${p.document}` : undefined, p.rule !== undefined ? `rule "${p.rule}"` : undefined].filter(Boolean).join(', ');
  return `${where}: ${p.field ? `${p.field}: ` : ''}${p.message}`;
}

/** Thrown when any correlation rule is refused; `problems` lists every reason, not just the first. */
export class CorrelationRuleError extends FabricError {
  constructor(readonly problems: CorrelationRuleProblem[]) {
    super(
      'CORRELATION_RULE_INVALID',
      `${problems.length} correlation rule problem${problems.length === 1 ? '' : 's'}:\n${problems.map((p) => `  - ${formatProblem(p)}`).join('\n')}`,
    );
  }
}

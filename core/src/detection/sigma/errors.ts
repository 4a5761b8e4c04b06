import { FabricError } from '../../errors/fabric-error.js';

/** A rule that uses something this engine cannot evaluate faithfully; it is refused, never guessed. */
export class RuleRefusal extends FabricError {
  declare readonly code: 'RULE_REFUSED';
  constructor(
    readonly feature: string,
    message: string,
    /** Path inside the rule document (e.g. ["detection", "selection", "a0|wide"]) used to find the line. */
    readonly path: (string | number)[] = [],
  ) {
    super('RULE_REFUSED', message);
  }
}

export interface Refusal {
  file: string;
  line: number;
  feature: string;
  message: string;
  rule?: string;
}

/**
 * The one MITRE ATT&CK tactic table: Sigma `attack.*` tags → technique ids and tactics, for
 * detection (Sigma rules) and correlation (correlation rules) alike. Current ATT&CK splits
 * Defense Evasion into Stealth (which keeps TA0005) and Defense Impairment (TA0112); SigmaHQ tags
 * rules with the new names. Older rules still say `attack.defense-evasion`: it keeps its name.
 */

export interface AttackTactic {
  id: string;
  name: string;
}

export interface AttackMapping {
  techniques: string[];
  tactics: AttackTactic[];
}

/** Keyed by the Sigma tag's tactic part, hyphenated (SigmaHQ's spelling since 2023). */
const TACTICS: Readonly<Record<string, AttackTactic>> = {
  reconnaissance: { id: 'TA0043', name: 'Reconnaissance' },
  'resource-development': { id: 'TA0042', name: 'Resource Development' },
  'initial-access': { id: 'TA0001', name: 'Initial Access' },
  execution: { id: 'TA0002', name: 'Execution' },
  persistence: { id: 'TA0003', name: 'Persistence' },
  'privilege-escalation': { id: 'TA0004', name: 'Privilege Escalation' },
  stealth: { id: 'TA0005', name: 'Stealth' },
  'defense-impairment': { id: 'TA0112', name: 'Defense Impairment' },
  'defense-evasion': { id: 'TA0005', name: 'Defense Evasion' },
  'credential-access': { id: 'TA0006', name: 'Credential Access' },
  discovery: { id: 'TA0007', name: 'Discovery' },
  'lateral-movement': { id: 'TA0008', name: 'Lateral Movement' },
  collection: { id: 'TA0009', name: 'Collection' },
  'command-and-control': { id: 'TA0011', name: 'Command and Control' },
  exfiltration: { id: 'TA0010', name: 'Exfiltration' },
  impact: { id: 'TA0040', name: 'Impact' },
};

const TECHNIQUE = /^t(\d{4})(?:\.(\d{3}))?$/;

/** The tactic an `attack.*` tag's rest names ("credential-access", "credential_access"), if any. */
export function tacticOf(rest: string): AttackTactic | undefined {
  const key = rest.toLowerCase().replace(/_/g, '-');
  return Object.hasOwn(TACTICS, key) ? TACTICS[key] : undefined;
}

/** Techniques and tactics (id and name) of a rule's tags, each once, in tag order. */
export function attackMappingFromTags(tags: readonly string[]): AttackMapping {
  const techniques: string[] = [];
  const tactics: AttackTactic[] = [];
  for (const raw of tags) {
    const tag = String(raw).toLowerCase();
    if (!tag.startsWith('attack.')) continue;
    const rest = tag.slice('attack.'.length);
    const technique = TECHNIQUE.exec(rest);
    if (technique) {
      const id = `T${technique[1]}${technique[2] ? `.${technique[2]}` : ''}`;
      if (!techniques.includes(id)) techniques.push(id);
      continue;
    }
    const tactic = tacticOf(rest);
    if (tactic && !tactics.some((t) => t.name === tactic.name)) tactics.push(tactic);
  }
  return { techniques, tactics };
}

/** Technique ids and tactic names, as detections carry them. */
export function attackFromTags(tags: readonly string[]): { techniques: string[]; tactics: string[] } {
  const { techniques, tactics } = attackMappingFromTags(tags);
  return { techniques, tactics: tactics.map((t) => t.name) };
}

/** MITRE ATT&CK from Sigma tags (`attack.t1110.001`, `attack.credential_access`). */

const TACTICS: Record<string, { id: string; name: string }> = {
  reconnaissance: { id: 'TA0043', name: 'Reconnaissance' },
  resource_development: { id: 'TA0042', name: 'Resource Development' },
  initial_access: { id: 'TA0001', name: 'Initial Access' },
  execution: { id: 'TA0002', name: 'Execution' },
  persistence: { id: 'TA0003', name: 'Persistence' },
  privilege_escalation: { id: 'TA0004', name: 'Privilege Escalation' },
  defense_evasion: { id: 'TA0005', name: 'Defense Evasion' },
  credential_access: { id: 'TA0006', name: 'Credential Access' },
  discovery: { id: 'TA0007', name: 'Discovery' },
  lateral_movement: { id: 'TA0008', name: 'Lateral Movement' },
  collection: { id: 'TA0009', name: 'Collection' },
  command_and_control: { id: 'TA0011', name: 'Command and Control' },
  exfiltration: { id: 'TA0010', name: 'Exfiltration' },
  impact: { id: 'TA0040', name: 'Impact' },
};

export interface AttackMapping {
  techniques: string[];
  tactics: Array<{ id: string; name: string }>;
}

export function attackFromTags(tags: readonly string[]): AttackMapping {
  const techniques: string[] = [];
  const tactics: Array<{ id: string; name: string }> = [];
  for (const raw of tags) {
    const tag = raw.toLowerCase();
    if (!tag.startsWith('attack.')) continue;
    const rest = tag.slice('attack.'.length);
    const technique = /^t(\d{4})(?:\.(\d{3}))?$/.exec(rest);
    if (technique) {
      const id = `T${technique[1]}${technique[2] ? `.${technique[2]}` : ''}`;
      if (!techniques.includes(id)) techniques.push(id);
      continue;
    }
    const tactic = TACTICS[rest.replace(/-/g, '_')];
    if (tactic && !tactics.some((t) => t.id === tactic.id)) tactics.push(tactic);
  }
  return { techniques, tactics };
}

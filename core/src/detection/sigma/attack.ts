/** Sigma `attack.*` tags → MITRE ATT&CK technique ids and tactic names. */
const TACTICS: Record<string, string> = {
  reconnaissance: 'Reconnaissance',
  'resource-development': 'Resource Development',
  'initial-access': 'Initial Access',
  execution: 'Execution',
  persistence: 'Persistence',
  'privilege-escalation': 'Privilege Escalation',
  'defense-evasion': 'Defense Evasion',
  stealth: 'Stealth',
  'defense-impairment': 'Defense Impairment',
  'credential-access': 'Credential Access',
  discovery: 'Discovery',
  'lateral-movement': 'Lateral Movement',
  collection: 'Collection',
  'command-and-control': 'Command and Control',
  exfiltration: 'Exfiltration',
  impact: 'Impact',
};

export function attackFromTags(tags: readonly string[]): { techniques: string[]; tactics: string[] } {
  const techniques: string[] = [];
  const tactics: string[] = [];
  for (const raw of tags) {
    const tag = raw.toLowerCase();
    if (!tag.startsWith('attack.')) continue;
    const rest = tag.slice(7);
    const t = /^t(\d{4})(?:\.(\d{3}))?$/.exec(rest);
    if (t) {
      const id = `T${t[1]}${t[2] ? '.' + t[2] : ''}`;
      if (!techniques.includes(id)) techniques.push(id);
      continue;
    }
    const name = TACTICS[rest.replace(/_/g, '-')];
    if (name && !tactics.includes(name)) tactics.push(name);
  }
  return { techniques, tactics };
}

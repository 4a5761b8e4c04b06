/**
 * MITRE ATT&CK techniques a Cowrie event is evidence of. Cowrie sees the attacker from the
 * first packet, so most of what it logs maps to a technique without guessing.
 */
export interface Technique {
  id: string;
  name: string;
  tactic: string;
  /** Set for sub-techniques: the parent id/name, which ECS puts in threat.technique.*. */
  parent?: { id: string; name: string };
}

export const PASSWORD_GUESSING: Technique = { id: 'T1110.001', name: 'Password Guessing', tactic: 'Credential Access', parent: { id: 'T1110', name: 'Brute Force' } };
export const VALID_ACCOUNTS: Technique = { id: 'T1078', name: 'Valid Accounts', tactic: 'Initial Access' };
export const UNIX_SHELL: Technique = { id: 'T1059.004', name: 'Unix Shell', tactic: 'Execution', parent: { id: 'T1059', name: 'Command and Scripting Interpreter' } };
export const INGRESS_TOOL_TRANSFER: Technique = { id: 'T1105', name: 'Ingress Tool Transfer', tactic: 'Command and Control' };
export const PROXY: Technique = { id: 'T1090', name: 'Proxy', tactic: 'Command and Control' };

/** What a shell command line is evidence of, beyond running a shell at all. */
const COMMAND_PATTERNS: Array<{ pattern: RegExp; technique: Technique }> = [
  { pattern: /\b(wget|curl|tftp|ftpget|scp)\b/, technique: INGRESS_TOOL_TRANSFER },
  { pattern: /\buname\b|\/proc\/cpuinfo|\blscpu\b|\bnproc\b|\bfree\s+-|\bdmidecode\b/, technique: { id: 'T1082', name: 'System Information Discovery', tactic: 'Discovery' } },
  { pattern: /\bwhoami\b|(^|[;&|]\s*)id(\s|$)|(^|[;&|]\s*)w(\s|$)|\blast\b/, technique: { id: 'T1033', name: 'System Owner/User Discovery', tactic: 'Discovery' } },
  { pattern: /\bifconfig\b|\bip\s+(a|addr)\b|\bnetstat\b|\broute\b/, technique: { id: 'T1016', name: 'System Network Configuration Discovery', tactic: 'Discovery' } },
  { pattern: /\bcrontab\b|\/etc\/cron/, technique: { id: 'T1053.003', name: 'Cron', tactic: 'Persistence', parent: { id: 'T1053', name: 'Scheduled Task/Job' } } },
  { pattern: /authorized_keys/, technique: { id: 'T1098.004', name: 'SSH Authorized Keys', tactic: 'Persistence', parent: { id: 'T1098', name: 'Account Manipulation' } } },
  { pattern: /\bchpasswd\b|\bpasswd\b|\busermod\b|\buseradd\b/, technique: { id: 'T1098', name: 'Account Manipulation', tactic: 'Persistence' } },
  {
    pattern: /\bchmod\s+(\+x|[0-7]*[1357][0-7]*\b|777)/,
    technique: {
      id: 'T1222.002',
      name: 'Linux and Mac File and Directory Permissions Modification',
      tactic: 'Defense Evasion',
      parent: { id: 'T1222', name: 'File and Directory Permissions Modification' },
    },
  },
  {
    pattern: /history\s+-c|unset\s+HISTFILE|\.bash_history/,
    technique: { id: 'T1070.003', name: 'Clear Command History', tactic: 'Defense Evasion', parent: { id: 'T1070', name: 'Indicator Removal' } },
  },
  { pattern: /xmrig|minerd|stratum\+tcp|cpuminer/i, technique: { id: 'T1496', name: 'Resource Hijacking', tactic: 'Impact' } },
];

/** Techniques a command line shows, the shell itself first. */
export function techniquesForCommand(commandLine: string): Technique[] {
  const found: Technique[] = [UNIX_SHELL];
  for (const { pattern, technique } of COMMAND_PATTERNS) {
    if (pattern.test(commandLine) && !found.some((t) => t.id === technique.id)) found.push(technique);
  }
  return found;
}

/** The ECS `threat` object for a set of techniques (parents in technique.*, sub-techniques in subtechnique.*). */
export function threatFor(techniques: readonly Technique[]): Record<string, unknown> | undefined {
  if (techniques.length === 0) return undefined;
  const ids: string[] = [];
  const names: string[] = [];
  const subIds: string[] = [];
  const subNames: string[] = [];
  const tactics: string[] = [];
  const addUnique = (list: string[], v: string) => {
    if (!list.includes(v)) list.push(v);
  };
  for (const t of techniques) {
    addUnique(ids, t.parent?.id ?? t.id);
    addUnique(names, t.parent?.name ?? t.name);
    if (t.parent) {
      addUnique(subIds, t.id);
      addUnique(subNames, t.name);
    }
    addUnique(tactics, t.tactic);
  }
  const technique: Record<string, unknown> = { id: ids, name: names };
  if (subIds.length > 0) technique.subtechnique = { id: subIds, name: subNames };
  return { framework: 'MITRE ATT&CK', technique, tactic: { name: tactics } };
}

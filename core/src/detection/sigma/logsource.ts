import type { LogsourceMapping } from '../config.js';
import type { CompileSession } from './context.js';
import { RuleRefusal } from './errors.js';
import { compileSelection, identityMapper, type FieldMapper } from './selection.js';
import type { Predicate } from './values.js';

export interface SigmaLogsource {
  product?: string;
  service?: string;
  category?: string;
}

/**
 * How each Sigma logsource is found among events. `when` restricts the rule to events of that
 * source (an sshd rule never looks at kernel lines); `fields` renames Sigma fields to ECS.
 */
export const BUILTIN_LOGSOURCES: LogsourceMapping[] = [
  { product: 'linux' },
  { product: 'linux', service: 'syslog' },
  { product: 'linux', service: 'auth' },
  { product: 'linux', service: 'sshd', when: { 'process.name': ['sshd'] } },
  { product: 'linux', service: 'sudo', when: { 'process.name': ['sudo'] } },
  { product: 'linux', service: 'su', when: { 'process.name': ['su'] } },
  { product: 'linux', service: 'cron', when: { 'process.name': ['cron', 'crond', 'crontab', 'anacron'] } },
  { product: 'linux', service: 'vsftpd', when: { 'process.name': ['vsftpd'] } },
  { product: 'linux', service: 'clamav', when: { 'process.name': ['clamd', 'freshclam', 'clamav', 'clamscan'] } },
  { product: 'linux', service: 'guacamole', when: { 'process.name': ['guacd', 'guacamole'] } },
  { product: 'linux', service: 'auditd', when: { 'event.module': ['auditd'] }, field_prefix: 'auditd.' },
  {
    product: 'linux',
    category: 'process_creation',
    when: { 'event.category': ['process'] },
    fields: {
      Image: 'process.executable',
      CommandLine: 'process.command_line',
      ParentImage: 'process.parent.executable',
      ParentCommandLine: 'process.parent.command_line',
      User: 'user.name',
      CurrentDirectory: 'process.working_directory',
      ProcessId: 'process.pid',
    },
  },
  {
    category: 'webserver',
    when: { 'url.original|exists': true },
    fields: {
      'c-ip': 'source.ip',
      'cs-method': 'http.request.method',
      'cs-uri-stem': 'url.path',
      'cs-uri-query': 'url.query',
      'c-uri': 'url.original',
      'cs-uri': 'url.original',
      'sc-status': 'http.response.status_code',
      'cs-user-agent': 'user_agent.original',
      'cs-referer': 'http.request.referrer',
      'cs-username': 'user.name',
    },
  },
];

export interface ResolvedLogsource {
  mapper: FieldMapper;
  gate: Predicate | undefined;
  /** Stable key of the mapping, so rules with the same gate are grouped. */
  key: string;
}

function describe(ls: SigmaLogsource): string {
  return Object.entries(ls)
    .filter(([k]) => k === 'product' || k === 'service' || k === 'category')
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', ') || '(empty)';
}

export class LogsourceResolver {
  private readonly mappings: { m: LogsourceMapping; resolved: ResolvedLogsource | undefined; key: string }[];

  constructor(
    private readonly session: CompileSession,
    user: LogsourceMapping[] = [],
  ) {
    this.mappings = [...user, ...BUILTIN_LOGSOURCES].map((m, i) => ({ m, resolved: undefined, key: `${i}` }));
  }

  /** Gates compile on first use, so only the logsources of loaded rules count as fields rules read. */
  private build(entry: { m: LogsourceMapping; key: string }): ResolvedLogsource {
    const { m } = entry;
    const fields = m.fields ?? {};
    const prefix = m.field_prefix ?? '';
    const mapper: FieldMapper = Object.keys(fields).length || prefix ? (f) => fields[f] ?? prefix + f : identityMapper;
    const gate = m.when ? compileSelection(m.when, identityMapper, ['logsource', 'when'], this.session) : undefined;
    return { mapper, gate, key: entry.key };
  }

  resolve(ls: SigmaLogsource | undefined): ResolvedLogsource {
    const src = ls ?? {};
    for (const entry of this.mappings) {
      const { m } = entry;
      if (m.product !== undefined && m.product.toLowerCase() !== src.product?.toLowerCase()) continue;
      if ((m.service ?? '').toLowerCase() !== (src.service ?? '').toLowerCase()) continue;
      if ((m.category ?? '').toLowerCase() !== (src.category ?? '').toLowerCase()) continue;
      return (entry.resolved ??= this.build(entry));
    }
    throw new RuleRefusal(
      'logsource',
      `no logsource mapping for ${describe(src)}: add one under detection.logsources (product/service/category, when, fields)`,
      ['logsource'],
    );
  }
}

/**
 * auditd writes one kernel event as several records (SYSCALL, EXECVE, CWD, PATH…, PROCTITLE,
 * EOE) sharing `msg=audit(<time>:<serial>)`. A process_creation rule needs fields of several of
 * them at once — Image from SYSCALL's exe, CommandLine from EXECVE's arguments, CurrentDirectory
 * from CWD — so the EXECVE record, the one the process_creation logsource looks at, is given the
 * fields of its siblings before matching. The other records stay as they are (the auditd rules
 * of SigmaHQ test one record type at a time: `type: SYSCALL`, `type: PATH`…).
 *
 * Where: inside the detection engine, over the records of one batch (pipeline task or scan
 * chunk), planned before any record is evaluated. A batch is already in memory and evaluated in
 * order, so the join adds no wait, holds no event back and cannot lose one: every record is still
 * evaluated and passed on exactly once. Memory is bounded by the batch, and further by
 * MAX_OPEN groups open at once (the oldest is closed when another serial arrives, as auditd
 * interleaves serials only across nodes and for a few records) and MAX_RECORDS per group. A
 * group closes on its EOE record, on eviction, or at the end of the batch. What a batch boundary
 * splits is evaluated with the part each side holds — no worse than with no join. Joining across
 * batches would mean holding the tail of a batch back (delaying its checkpoint) or sharing state
 * between pool workers; sources deliver audit records in large ordered batches, so a split falls
 * on at most one event per batch.
 */

const MAX_OPEN = 64;
const MAX_RECORDS = 64;

const HEADER = /^(?:node=(\S+) )?type=([A-Z_0-9]+) msg=audit\((\d+(?:\.\d+)?:\d+)\):/;
const KV = /([A-Za-z0-9_-]+)=("(?:[^"\\]|\\.)*"|'[^']*'|[^\s"']*)/g;
const HEX = /^(?:[0-9A-F]{2})+$/;
/** Fields auditd hex-encodes when they hold spaces, quotes or control characters. */
const ENCODED = new Set(['exe', 'comm', 'cwd', 'name', 'proctitle', 'key', 'cmd']);
// saddr is always hex and never text: decodeSockaddr reads it.

/** The text of a record that carries an audit record, or undefined. */
export function auditText(rec: Record<string, unknown>): string | undefined {
  for (const k of ['message', 'event.original']) {
    const v = rec[k];
    if (typeof v !== 'string') continue;
    if (v.startsWith('type=') || v.startsWith('node=')) return v;
    // Forwarded through syslog: "… audispd: node=web1 type=EXECVE msg=audit(…)".
    const at = v.indexOf(' type=');
    if (at !== -1 && v.includes('msg=audit(', at)) {
      const node = v.lastIndexOf('node=', at);
      return v.slice(node !== -1 && node > v.lastIndexOf(': ', at) ? node : at + 1);
    }
  }
  return undefined;
}

/**
 * auditd writes a value with spaces, quotes or control characters as unquoted hex (untrusted
 * strings: exe, cwd, name, proctitle, arguments). Printable results are decoded; NULs (the argv
 * separators of proctitle) become spaces.
 */
export function decodeAuditValue(v: string, nulToSpace = false): string {
  if (v.length < 2 || !HEX.test(v)) return v;
  let s = Buffer.from(v, 'hex').toString('utf8');
  if (nulToSpace) s = s.replace(/\0+$/, '').replace(/\0/g, ' ');
  return /^[\x20-\x7e\t\u00a0-\uffff]*$/.test(s) && !s.includes('\ufffd') ? s : v;
}

function fields(text: string): Map<string, string> {
  const out = new Map<string, string>();
  KV.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = KV.exec(text)) !== null) {
    let v = m[2]!;
    const quoted = v.length >= 2 && (v[0] === '"' || v[0] === "'") && v[v.length - 1] === v[0];
    if (quoted) v = v.slice(1, -1);
    // The first occurrence wins. Only string fields are ever hex-encoded: "4142" as a pid is a number.
    if (!out.has(m[1]!)) out.set(m[1]!, quoted || !ENCODED.has(m[1]!) ? v : decodeAuditValue(v));
  }
  return out;
}

export type JoinedFields = [path: string, value: unknown][];

interface Group {
  records: { index: number; type: string; text: string }[];
}

/** The process fields of a SYSCALL record (who made the call). */
function syscallFields(f: Map<string, string>, add: JoinedFields): void {
  const exe = f.get('exe');
  if (exe && exe !== '(null)') add.push(['process.executable', exe]);
  const pid = Number(f.get('pid'));
  if (f.has('pid') && Number.isSafeInteger(pid)) add.push(['process.pid', pid]);
  const ppid = Number(f.get('ppid'));
  if (f.has('ppid') && Number.isSafeInteger(ppid)) add.push(['process.parent.pid', ppid]);
  // Enriched logs (log_format = ENRICHED) resolve ids to names: UID="root".
  const user = f.get('UID');
  if (user) add.push(['user.name', user]);
  const uid = f.get('uid');
  if (uid !== undefined) add.push(['user.id', uid]);
  const success = f.get('success');
  if (success) add.push(['event.outcome', success === 'yes' ? 'success' : 'failure']);
}

/** x86_64 socket calls whose SOCKADDR is the peer (connect, sendto, sendmsg) or the local end (bind). */
const PEER_CALLS: Record<string, 'destination' | 'source'> = { '42': 'destination', '44': 'destination', '46': 'destination', '49': 'source' };
const PEER_NAMES: Record<string, 'destination' | 'source'> = { connect: 'destination', sendto: 'destination', sendmsg: 'destination', bind: 'source' };

/** A raw `saddr=` (struct sockaddr, hex): IPv4 or IPv6 address and port, or undefined. */
export function decodeSockaddr(hex: string): { ip: string; port: number } | undefined {
  if (!HEX.test(hex) || hex.length < 16) return undefined;
  const b = Buffer.from(hex, 'hex');
  const family = b.readUInt16LE(0);
  if (family === 2 && b.length >= 8) return { port: b.readUInt16BE(2), ip: `${b[4]}.${b[5]}.${b[6]}.${b[7]}` };
  if (family === 10 && b.length >= 24) {
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(8 + i * 2).toString(16));
    // Shortest form (RFC 5952): the longest run of zero groups becomes "::".
    let best = -1;
    let len = 0;
    for (let i = 0; i < 8; ) {
      if (groups[i] !== '0') {
        i++;
        continue;
      }
      let j = i;
      while (j < 8 && groups[j] === '0') j++;
      if (j - i > len && j - i > 1) [best, len] = [i, j - i];
      i = j;
    }
    const ip = best === -1 ? groups.join(':') : `${groups.slice(0, best).join(':')}::${groups.slice(best + len).join(':')}`;
    return { port: b.readUInt16BE(2), ip };
  }
  return undefined;
}

/**
 * Joins a group: the EXECVE record takes the process fields of SYSCALL, CWD and PROCTITLE (a
 * process event); a SOCKADDR record of connect/sendto/sendmsg/bind takes the decoded address and
 * the SYSCALL's process fields (a network event).
 */
function joinGroup(g: Group, out: Map<number, JoinedFields>): void {
  if (g.records.length < 2) return;
  const execve = g.records.find((r) => r.type === 'EXECVE');
  const sockaddr = g.records.find((r) => r.type === 'SOCKADDR');
  if (!execve && !sockaddr) return;
  const parsed = (r: Group['records'][number]) => fields(r.text.slice(r.text.indexOf('):') + 2));
  const syscallRec = g.records.find((r) => r.type === 'SYSCALL');
  const syscall = syscallRec ? parsed(syscallRec) : undefined;
  if (execve) {
    const add: JoinedFields = [];
    if (syscall) syscallFields(syscall, add);
    for (const r of g.records) {
      if (r.type === 'CWD') {
        const cwd = parsed(r).get('cwd');
        if (cwd) add.push(['process.working_directory', cwd]);
      } else if (r.type === 'PROCTITLE') {
        const t = parsed(r).get('proctitle');
        if (t) add.push(['process.title', decodeAuditValue(t, true)]);
      }
    }
    if (add.length) out.set(execve.index, add);
  }
  if (sockaddr && syscall) {
    const side = PEER_NAMES[syscall.get('SYSCALL') ?? ''] ?? (syscall.get('arch') === 'c000003e' ? PEER_CALLS[syscall.get('syscall') ?? ''] : undefined);
    const addr = side ? decodeSockaddr(parsed(sockaddr).get('saddr') ?? '') : undefined;
    if (side && addr) {
      const add: JoinedFields = [
        [`${side}.ip`, addr.ip],
        [`${side}.port`, addr.port],
        ['event.category', 'network'],
      ];
      syscallFields(syscall, add);
      out.set(sockaddr.index, add);
    }
  }
}

/**
 * For each EXECVE (or socket-call SOCKADDR) record among `texts` (one per record of the batch,
 * undefined when not an audit record), the fields its siblings contribute.
 */
export function planAuditJoin(texts: readonly (string | undefined)[]): Map<number, JoinedFields> {
  const out = new Map<number, JoinedFields>();
  const open = new Map<string, Group>();
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i];
    if (text === undefined) continue;
    const h = HEADER.exec(text);
    if (!h) continue;
    const key = `${h[1] ?? ''}|${h[3]}`;
    const type = h[2]!;
    let g = open.get(key);
    if (!g) {
      if (open.size >= MAX_OPEN) {
        const [oldest, og] = open.entries().next().value as [string, Group];
        open.delete(oldest);
        joinGroup(og, out);
      }
      open.set(key, (g = { records: [] }));
    }
    if (type === 'EOE') {
      open.delete(key);
      joinGroup(g, out);
      continue;
    }
    if (g.records.length < MAX_RECORDS) g.records.push({ index: i, type, text });
  }
  for (const g of open.values()) joinGroup(g, out);
  return out;
}

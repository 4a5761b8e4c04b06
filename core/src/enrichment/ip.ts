/**
 * IP address parsing and CIDR membership. Warninglists hold tens of thousands of entries
 * (public DNS resolvers), so membership is a hash lookup per prefix length rather than a scan.
 */

export type ParsedIp = { version: 4; value: bigint } | { version: 6; value: bigint };

export function parseIPv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let out = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    // Leading zeros are ambiguous (octal in some parsers), so they are not an address.
    if (p.length > 1 && p.startsWith('0')) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out = (out << 8n) | BigInt(n);
  }
  return out;
}

export function parseIPv6(input: string): bigint | undefined {
  let text = input;
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(':')) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const toGroups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const groups: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIPv4(p);
        if (v4 === undefined) return undefined;
        groups.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
      groups.push(parseInt(p, 16));
    }
    return groups;
  };
  const head = toGroups(halves[0]!);
  const tail = halves.length === 2 ? toGroups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    groups = head;
  }
  if (groups.length !== 8) return undefined;
  let out = 0n;
  for (const g of groups) out = (out << 16n) | BigInt(g);
  return out;
}

/** Parse either family. IPv4-mapped IPv6 (::ffff:a.b.c.d) is returned as the IPv4 address it carries. */
export function parseIp(text: string): ParsedIp | undefined {
  const t = text.trim();
  const v4 = parseIPv4(t);
  if (v4 !== undefined) return { version: 4, value: v4 };
  const v6 = parseIPv6(t);
  if (v6 === undefined) return undefined;
  if (v6 >> 32n === 0xffffn) return { version: 4, value: v6 & 0xffffffffn };
  return { version: 6, value: v6 };
}

export function formatIp(ip: ParsedIp): string {
  if (ip.version === 4) {
    const v = ip.value;
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on ties.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Canonical text of an address (lowercase, compressed IPv6, IPv4-mapped unwrapped), or undefined. */
export function canonicalIp(text: string): { type: 'ipv4' | 'ipv6'; value: string } | undefined {
  const ip = parseIp(text);
  if (!ip) return undefined;
  return { type: ip.version === 4 ? 'ipv4' : 'ipv6', value: formatIp(ip) };
}

/** A set of CIDR blocks of both families. */
export class CidrSet {
  private readonly byPrefix = { 4: new Map<number, Set<bigint>>(), 6: new Map<number, Set<bigint>>() };
  private count = 0;

  /** Adds "a.b.c.d/nn", "x::/nn" or a bare address. Returns false when the text is not a block. */
  add(cidr: string): boolean {
    const [addr, prefixText, extra] = cidr.trim().split('/');
    if (extra !== undefined || addr === undefined) return false;
    const ip = parseIp(addr);
    if (!ip) return false;
    const bits = ip.version === 4 ? 32 : 128;
    let prefix = bits;
    if (prefixText !== undefined) {
      if (!/^\d{1,3}$/.test(prefixText)) return false;
      prefix = Number(prefixText);
      // "::ffff:10.0.0.0/104" style blocks are written against 128 bits.
      if (ip.version === 4 && addr.includes(':')) prefix -= 96;
      if (prefix < 0 || prefix > bits) return false;
    }
    const net = mask(ip.value, bits, prefix);
    const map = this.byPrefix[ip.version];
    let set = map.get(prefix);
    if (!set) {
      set = new Set();
      map.set(prefix, set);
    }
    if (!set.has(net)) {
      set.add(net);
      this.count++;
    }
    return true;
  }

  has(ip: ParsedIp): boolean {
    const bits = ip.version === 4 ? 32 : 128;
    for (const [prefix, set] of this.byPrefix[ip.version]) {
      if (set.has(mask(ip.value, bits, prefix))) return true;
    }
    return false;
  }

  get size(): number {
    return this.count;
  }
}

function mask(value: bigint, bits: number, prefix: number): bigint {
  if (prefix === 0) return 0n;
  const hostBits = BigInt(bits - prefix);
  return (value >> hostBits) << hostBits;
}

/** Addresses that are never worth asking a reputation service about (RFC 6890 special-purpose). */
const RESERVED = new CidrSet();
for (const block of [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.88.99.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '224.0.0.0/4',
  '240.0.0.0/4',
  '::/128',
  '::1/128',
  '64:ff9b:1::/48',
  '100::/64',
  'fc00::/7',
  'fe80::/10',
  'ff00::/8',
])
  RESERVED.add(block);

/** Documentation ranges (RFC 5737, RFC 3849, RFC 9637): reserved too, but what demos and test fakes use. */
const DOCUMENTATION = new CidrSet();
for (const block of ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '2001:db8::/32', '3fff::/20']) DOCUMENTATION.add(block);

export function isReservedIp(ip: ParsedIp, includeDocumentation = true): boolean {
  return RESERVED.has(ip) || (includeDocumentation && DOCUMENTATION.has(ip));
}

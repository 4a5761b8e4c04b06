import ipaddr from 'ipaddr.js';

/**
 * The one IP address parser of the product (enrichment, warninglists, false positives, the admin
 * API's indicator checks, detection's field typing, plugins through the plugin API). Parsing is
 * ipaddr.js; what is accepted is narrower than ipaddr.js, because log lines and feeds are hostile
 * and a lenient parser turns "010.1.1.1" (octal to some tools) or "3232235777" into an address
 * nobody wrote. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address it carries, so
 * every caller agrees on one family for it.
 */

export type ParsedIp = { version: 4; value: bigint } | { version: 6; value: bigint };

/** Longer than any address spelling ("[" + 39 hex/colons + embedded IPv4 + "]" is 47): never parsed. */
const MAX_LENGTH = 64;
/** Plain ASCII only: no zone ids ("%eth0"), no Unicode digits, no signs or spaces inside. */
const IPV4_TEXT = /^(?:0|[1-9]\d{0,2})(?:\.(?:0|[1-9]\d{0,2})){3}$/;
const IPV6_TEXT = /^[0-9a-fA-F:]*:[0-9a-fA-F:]*(?::(?:0|[1-9]\d{0,2})(?:\.(?:0|[1-9]\d{0,2})){3})?$/;

function toBigint(bytes: readonly number[]): bigint {
  let out = 0n;
  for (const b of bytes) out = (out << 8n) | BigInt(b);
  return out;
}

function fromBigint(value: bigint, length: number): number[] {
  const bytes = new Array<number>(length);
  for (let i = length - 1; i >= 0; i--) {
    bytes[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return bytes;
}

function parseV4(text: string): bigint | undefined {
  // IPV4_TEXT admits only four plain decimals; ipaddr.js then refuses parts above 255.
  if (!IPV4_TEXT.test(text)) return undefined;
  try {
    return toBigint(ipaddr.IPv4.parse(text).octets);
  } catch {
    return undefined;
  }
}

function parseV6(text: string): ipaddr.IPv6 | undefined {
  // The embedded IPv4 tail is checked by IPV6_TEXT as four plain decimals: ipaddr.js alone would
  // read "::ffff:0x1.1.1.1" or octal parts.
  if (!IPV6_TEXT.test(text)) return undefined;
  try {
    return ipaddr.IPv6.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Either family, or undefined for anything that is not one address written the usual way
 * (never throws). Surrounding spaces and URL brackets ("[::1]") are allowed; IPv4-mapped IPv6
 * comes back as IPv4.
 */
export function parseIp(input: unknown): ParsedIp | undefined {
  if (typeof input !== 'string' || input.length > MAX_LENGTH) return undefined;
  let text = input.trim();
  if (!text.includes(':')) {
    const v4 = parseV4(text);
    return v4 === undefined ? undefined : { version: 4, value: v4 };
  }
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const v6 = parseV6(text);
  if (!v6) return undefined;
  if (v6.isIPv4MappedAddress()) return { version: 4, value: toBigint(v6.toIPv4Address().octets) };
  return { version: 6, value: toBigint(v6.toByteArray()) };
}

/** 4, 6, or undefined when the text is not an address (IPv4-mapped IPv6 is 4). */
export function ipVersion(text: unknown): 4 | 6 | undefined {
  // Detection types every extracted `.ip` value with this: dotted decimal needs only the strict
  // pattern and the octet range (what parseV4 checks), not a parse into a bigint.
  if (typeof text === 'string' && text.length <= MAX_LENGTH && !text.includes(':')) {
    const t = text.trim();
    return IPV4_TEXT.test(t) && t.split('.').every((octet) => Number(octet) <= 255) ? 4 : undefined;
  }
  return parseIp(text)?.version;
}

/** Canonical text: dotted decimal, or RFC 5952 (lower case, longest zero run compressed). */
export function formatIp(ip: ParsedIp): string {
  if (ip.version === 4) return new ipaddr.IPv4(fromBigint(ip.value, 4)).toString();
  return new ipaddr.IPv6(fromBigint(ip.value, 16)).toRFC5952String();
}

/** Canonical text of an address (lowercase, compressed IPv6, IPv4-mapped unwrapped), or undefined. */
export function canonicalIp(text: unknown): { type: 'ipv4' | 'ipv6'; value: string } | undefined {
  const ip = parseIp(text);
  if (!ip) return undefined;
  return { type: ip.version === 4 ? 'ipv4' : 'ipv6', value: formatIp(ip) };
}

/**
 * A set of CIDR blocks of both families. Warninglists hold tens of thousands of entries (public
 * DNS resolvers), so membership is a hash lookup per prefix length rather than a scan.
 */
export class CidrSet {
  private readonly byPrefix = { 4: new Map<number, Set<bigint>>(), 6: new Map<number, Set<bigint>>() };
  private count = 0;

  /** Adds "a.b.c.d/nn", "x::/nn" or a bare address. Returns false when the text is not a block. */
  add(cidr: string): boolean {
    if (typeof cidr !== 'string' || cidr.length > MAX_LENGTH + 4) return false;
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

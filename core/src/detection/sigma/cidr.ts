/** CIDR membership for IPv4 and IPv6, parsed once at rule load. */
export type IpTest = (ip: string) => boolean;

function parseV4(s: string): number | undefined {
  const p = s.split('.');
  if (p.length !== 4) return undefined;
  let n = 0;
  for (const x of p) {
    if (!/^\d{1,3}$/.test(x)) return undefined;
    const v = Number(x);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

function parseV6(s: string): bigint | undefined {
  if (!s.includes(':')) return undefined;
  let str = s;
  const v4 = str.match(/^(.*:)(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const n = parseV4(v4[2]!);
    if (n === undefined) return undefined;
    str = `${v4[1]}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const halves = str.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  let n = 0n;
  for (const g of groups) {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return undefined;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  return n;
}

/** Returns undefined when `cidr` is not a valid CIDR (the caller refuses the rule). */
export function compileCidr(cidr: string): IpTest | undefined {
  const [addr, bitsStr] = cidr.split('/');
  if (!addr) return undefined;
  const v4 = parseV4(addr);
  if (v4 !== undefined) {
    const bits = bitsStr === undefined ? 32 : Number(bitsStr);
    if (!Number.isInteger(bits) || bits < 0 || bits > 32) return undefined;
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    const net = (v4 & mask) >>> 0;
    return (ip) => {
      const n = parseV4(ip);
      return n !== undefined && (n & mask) >>> 0 === net;
    };
  }
  const v6 = parseV6(addr);
  if (v6 === undefined) return undefined;
  const bits = bitsStr === undefined ? 128 : Number(bitsStr);
  if (!Number.isInteger(bits) || bits < 0 || bits > 128) return undefined;
  const mask = bits === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - bits)) - 1n);
  const net = v6 & mask;
  return (ip) => {
    const n = parseV6(ip);
    return n !== undefined && (n & mask) === net;
  };
}

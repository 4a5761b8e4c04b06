import { CidrSet, type ParsedIp, parseIp } from '../../net/ip.js';

/** The Sigma `cidr` modifier: membership in one block, parsed once at rule load. */
export type IpTest = (ip: string) => boolean;

// A rule's CIDR list compiles to one test per block, all asked about the same field value in a
// row: remembering the last parse saves parsing it again for every block.
let lastText: string | undefined;
let lastIp: ParsedIp | undefined;
function parseCached(text: string): ParsedIp | undefined {
  if (text !== lastText) {
    lastText = text;
    lastIp = parseIp(text);
  }
  return lastIp;
}

/** Returns undefined when `cidr` is not a valid CIDR (the caller refuses the rule). */
export function compileCidr(cidr: string): IpTest | undefined {
  const block = new CidrSet();
  if (!block.add(cidr)) return undefined;
  return (ip) => {
    const parsed = parseCached(ip);
    return parsed !== undefined && block.has(parsed);
  };
}

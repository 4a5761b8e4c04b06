import { ipVersion } from '../net/ip.js';
import type { Indicator } from '../plugin-api/indicators.js';

const HEX_LENGTH = { md5: 32, sha1: 40, sha256: 64 } as const;
const DOMAIN = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?$/i;

/** A value as quoted back in a message: hostile input may be megabytes long. */
function shown(value: string): string {
  return value.length > 100 ? `${value.slice(0, 100)}…` : value;
}

/**
 * Why an indicator's value cannot be of its declared type, or undefined when it can. Catches the
 * usual operator slips (a hash pasted with the wrong type, a URL given as a domain) before they
 * become a false-positive entry that never matches anything.
 */
export function indicatorProblem({ type, value }: Indicator): string | undefined {
  switch (type) {
    case 'ipv4':
    case 'ipv6': {
      // The parser enrichment uses, so a mark accepted here matches what enrichment looks up.
      const version = ipVersion(value);
      const wanted = type === 'ipv4' ? 4 : 6;
      if (version === wanted) return undefined;
      if (version === undefined) return `"${shown(value)}" is not an IPv${wanted} address`;
      return version === 4 ? `"${shown(value)}" is an IPv4 address (IPv4-mapped IPv6 counts as IPv4): use type "ipv4"` : `"${shown(value)}" is an IPv6 address: use type "ipv6"`;
    }
    case 'md5':
    case 'sha1':
    case 'sha256': {
      const n = HEX_LENGTH[type];
      return new RegExp(`^[0-9a-f]{${n}}$`, 'i').test(value) ? undefined : `a ${type} is ${n} hexadecimal digits; got ${value.length} characters`;
    }
    case 'domain':
      return DOMAIN.test(value) ? undefined : `"${value}" is not a domain name (give URLs with type "url")`;
    case 'url':
      try {
        const u = new URL(value);
        return u.protocol === 'http:' || u.protocol === 'https:' || u.protocol === 'ftp:' ? undefined : `"${u.protocol}" URLs are not indicators; use http(s) or ftp`;
      } catch {
        return `"${value}" is not an absolute URL`;
      }
    default:
      return `unknown indicator type "${String(type)}"`;
  }
}

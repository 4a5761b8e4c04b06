import { INDICATOR_TYPES } from '../plugin-api/index.js';
import type { Indicator, IndicatorType } from '../plugin-api/index.js';
import { canonicalIp, isReservedIp, parseIp } from '../net/ip.js';
import { describeValue } from '../events/sanitize.js';

const HASH_LENGTHS: Record<'md5' | 'sha1' | 'sha256', number> = { md5: 32, sha1: 40, sha256: 64 };

const DOMAIN_RE = /^(?=.{4,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;

/** RFC 6761 / 6762 names, the ICANN-reserved .internal and common private suffixes: they never resolve publicly. */
const RESERVED_TLDS = new Set(['invalid', 'localhost', 'local', 'internal', 'lan', 'home', 'corp', 'localdomain', 'arpa', 'onion']);
/** RFC 2606 documentation names: reserved too, but what demos and test fakes use. */
const DOCUMENTATION_TLDS = new Set(['test', 'example']);
const DOCUMENTATION_DOMAINS = ['example.com', 'example.net', 'example.org'];

export type NormalizeResult = { ok: true; indicator: Indicator } | { ok: false; error: string };

/**
 * Longest URL looked up: what browsers and sitemaps have long held to, and within what web servers
 * accept (8 KB). A longer one is not an indicator (its host still is, extract.ts); without a limit,
 * a forged megabyte URL would be a cache key and a request to every service.
 */
export const MAX_URL_CHARS = 2048;

/** A value as an error message quotes it: long ones cut, with their length. */
function shown(value: string): string {
  const d = describeValue(value, 120);
  return d.truncated ? `${d.text}… (${d.length} characters)` : d.text;
}

/**
 * The one canonical spelling of an indicator, so the cache, the false-positive list and the
 * de-duplication all agree (an IPv6 address has many spellings, domains and hashes are case-blind).
 * `type` may be "ip" to let the address pick its family.
 */
export function normalizeIndicator(type: string, rawValue: string): NormalizeResult {
  const value = String(rawValue).trim();
  if (value === '') return { ok: false, error: 'the indicator value is empty' };
  switch (type) {
    case 'ip':
    case 'ipv4':
    case 'ipv6': {
      const ip = canonicalIp(value);
      if (!ip) return { ok: false, error: `"${shown(value)}" is not an IP address` };
      if (type !== 'ip' && ip.type !== type) return { ok: false, error: `"${shown(value)}" is an ${ip.type} address, not ${type}` };
      return { ok: true, indicator: ip };
    }
    case 'domain': {
      const d = value.toLowerCase().replace(/\.$/, '');
      if (!DOMAIN_RE.test(d)) return { ok: false, error: `"${shown(value)}" is not a domain name (expected e.g. evil.example.net)` };
      return { ok: true, indicator: { type: 'domain', value: d } };
    }
    case 'url': {
      if (value.length > MAX_URL_CHARS) return { ok: false, error: `"${shown(value)}" is longer than ${MAX_URL_CHARS} characters: not looked up as a URL` };
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        return { ok: false, error: `"${shown(value)}" is not an absolute URL (expected e.g. http://host/path)` };
      }
      if (!['http:', 'https:', 'ftp:'].includes(url.protocol)) return { ok: false, error: `"${shown(value)}" is not an http, https or ftp URL` };
      // The exact text matters to some services (VirusTotal's URL id is derived from it), so keep it.
      return { ok: true, indicator: { type: 'url', value } };
    }
    case 'md5':
    case 'sha1':
    case 'sha256': {
      const h = value.toLowerCase();
      const len = HASH_LENGTHS[type];
      if (h.length !== len || !/^[0-9a-f]+$/.test(h)) return { ok: false, error: `"${shown(value)}" is not a ${type} hash (${len} hexadecimal characters)` };
      return { ok: true, indicator: { type, value: h } };
    }
    default:
      return { ok: false, error: `unknown indicator type "${shown(type)}": use one of ip, ${INDICATOR_TYPES.join(', ')}` };
  }
}

export function hashTypeByLength(value: string): IndicatorType | undefined {
  const v = value.trim().toLowerCase();
  if (!/^[0-9a-f]+$/.test(v)) return undefined;
  if (v.length === 32) return 'md5';
  if (v.length === 40) return 'sha1';
  if (v.length === 64) return 'sha256';
  return undefined;
}

export function indicatorKey(indicator: Indicator): string {
  return `${indicator.type}:${indicator.value}`;
}

export function isReservedDomain(domain: string, includeDocumentation = true): boolean {
  const tld = domain.slice(domain.lastIndexOf('.') + 1);
  if (RESERVED_TLDS.has(tld)) return true;
  if (!includeDocumentation) return false;
  return DOCUMENTATION_TLDS.has(tld) || DOCUMENTATION_DOMAINS.some((d) => domain === d || domain.endsWith(`.${d}`));
}

/** Host of a URL indicator, lowercased, without brackets. */
export function urlHost(url: string): string | undefined {
  try {
    const host = new URL(url).hostname.toLowerCase();
    return host.startsWith('[') ? host.slice(1, -1) : host;
  } catch {
    return undefined;
  }
}

/**
 * True for indicators no public reputation service can know: private addresses, reserved names.
 * `includeDocumentation: false` lets documentation ranges and names through (demos, fakes).
 */
export function isNonPublic(indicator: Indicator, includeDocumentation = true): boolean {
  switch (indicator.type) {
    case 'ipv4':
    case 'ipv6': {
      const ip = parseIp(indicator.value);
      return ip ? isReservedIp(ip, includeDocumentation) : true;
    }
    case 'domain':
      return isReservedDomain(indicator.value, includeDocumentation);
    case 'url': {
      const host = urlHost(indicator.value);
      if (host === undefined) return true;
      const ip = parseIp(host);
      if (ip) return isReservedIp(ip, includeDocumentation);
      return !host.includes('.') || isReservedDomain(host, includeDocumentation);
    }
    default:
      return false;
  }
}

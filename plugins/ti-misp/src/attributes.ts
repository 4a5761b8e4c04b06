import { type Indicator, type IndicatorType, ipVersion } from '@reactive-fabric/core';
import type { MispAttribute } from './client.js';

const HASHES = new Set(['md5', 'sha1', 'sha256']);

/** The indicator a MISP attribute carries, if it is one of the types we handle. */
export function indicatorOf(a: Pick<MispAttribute, 'type' | 'value'>): Indicator | undefined {
  const parts = a.value.split('|');
  const ip = (v: string | undefined): Indicator | undefined => (v ? { type: ipVersion(v) === 6 ? 'ipv6' : 'ipv4', value: v.toLowerCase() } : undefined);
  switch (a.type) {
    case 'ip-src':
    case 'ip-dst':
      return ip(a.value);
    case 'ip-src|port':
    case 'ip-dst|port':
      return ip(parts[0]);
    case 'domain':
    case 'hostname':
      return { type: 'domain', value: a.value.toLowerCase() };
    case 'domain|ip':
    case 'hostname|port':
      return parts[0] ? { type: 'domain', value: parts[0].toLowerCase() } : undefined;
    case 'url':
      return { type: 'url', value: a.value };
    default:
      if (HASHES.has(a.type)) return { type: a.type as IndicatorType, value: a.value.toLowerCase() };
      if (a.type.startsWith('filename|') && HASHES.has(a.type.slice(9)) && parts[1]) return { type: a.type.slice(9) as IndicatorType, value: parts[1].toLowerCase() };
      return undefined;
  }
}

/** Whether an attribute (also a composite one) is about this indicator. */
export function matches(a: MispAttribute, i: Indicator): boolean {
  const norm = (v: string) => (i.type === 'url' ? v : v.toLowerCase());
  const want = norm(i.value);
  if (norm(a.value) === want) return true;
  return a.value.split('|').some((p) => norm(p) === want);
}

export function tagsOf(a: MispAttribute): string[] {
  const names = [...(a.Tag ?? []), ...(a.Event?.Tag ?? [])].map((t) => t?.name).filter((n): n is string => typeof n === 'string');
  return [...new Set(names)];
}

export function tlpOf(tags: string[]): string | undefined {
  const t = tags.find((x) => /^tlp:/i.test(x));
  return t ? t.slice(4).toLowerCase() : undefined;
}

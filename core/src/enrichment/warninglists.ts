import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { FabricError } from '../errors/fabric-error.js';
import type { Indicator, IndicatorType } from '../plugin-api/index.js';
import { CidrSet, parseIp } from '../net/ip.js';
import { urlHost } from './indicator.js';

/**
 * MISP warninglists (https://github.com/MISP/misp-warninglists): allow-lists of values that are
 * known not to be threats (private ranges, public resolvers, top domains, hashes of empty files).
 * Matching follows MISP: `cidr` by block, `string` exact, `hostname` the name or any subdomain,
 * `substring` anywhere, `regex` PCRE-style; `matching_attributes` limits which indicator types a
 * list applies to (none listed = all types).
 */
export interface WarninglistMatch {
  list: string;
  file: string;
}

export class WarninglistError extends FabricError {
  constructor(message: string) {
    super('WARNINGLIST_INVALID', message);
  }
}

type ListType = 'cidr' | 'string' | 'hostname' | 'substring' | 'regex';
const LIST_TYPES: readonly ListType[] = ['cidr', 'string', 'hostname', 'substring', 'regex'];

interface LoadedList {
  name: string;
  file: string;
  type: ListType;
  appliesTo: Set<IndicatorType>;
  cidrs?: CidrSet;
  strings?: Set<string>;
  substrings?: string[];
  regexes?: RegExp[];
}

const IP_TYPES: IndicatorType[] = ['ipv4', 'ipv6'];
const HASH_TYPES: IndicatorType[] = ['md5', 'sha1', 'sha256'];
const ATTRIBUTE_TYPES: Record<string, IndicatorType[]> = {
  'ip-src': IP_TYPES,
  'ip-dst': IP_TYPES,
  'ip-src|port': IP_TYPES,
  'ip-dst|port': IP_TYPES,
  ip: IP_TYPES,
  'domain|ip': [...IP_TYPES, 'domain'],
  domain: ['domain'],
  hostname: ['domain'],
  'hostname|port': ['domain'],
  url: ['url'],
  uri: ['url'],
  link: ['url'],
  md5: ['md5'],
  sha1: ['sha1'],
  sha256: ['sha256'],
  'filename|md5': ['md5'],
  'filename|sha1': ['sha1'],
  'filename|sha256': ['sha256'],
};
const ALL_TYPES: IndicatorType[] = [...IP_TYPES, 'domain', 'url', ...HASH_TYPES];

export class Warninglists {
  private constructor(private readonly lists: LoadedList[]) {}

  static empty(): Warninglists {
    return new Warninglists([]);
  }

  /**
   * Load every list.json under the given folders (or the given files). Relative paths resolve
   * against `baseDir` (the config file's folder). `field` names the config field for errors.
   */
  static async load(paths: readonly string[], baseDir: string, field = 'enrichment.warninglists'): Promise<Warninglists> {
    const lists: LoadedList[] = [];
    for (const [i, p] of paths.entries()) {
      const abs = path.resolve(baseDir, p);
      let st;
      try {
        st = await stat(abs);
      } catch {
        throw new WarninglistError(`${field}[${i}]: "${p}" (resolved to ${abs}) does not exist; point it at a folder of MISP warninglists (each list in a list.json) or remove it`);
      }
      const files = st.isDirectory() ? await findListFiles(abs) : [abs];
      if (files.length === 0) throw new WarninglistError(`${field}[${i}]: no list.json found under ${abs}; expected the MISP layout <folder>/<list-name>/list.json`);
      for (const f of files) lists.push(await loadList(f));
    }
    return new Warninglists(lists);
  }

  get size(): number {
    return this.lists.length;
  }

  /** The first list the indicator is on, or undefined. */
  match(indicator: Indicator): WarninglistMatch | undefined {
    for (const list of this.lists) {
      if (!list.appliesTo.has(indicator.type)) continue;
      if (matches(list, indicator)) return { list: list.name, file: list.file };
    }
    return undefined;
  }
}

function matches(list: LoadedList, indicator: Indicator): boolean {
  const value = indicator.value.toLowerCase();
  switch (list.type) {
    case 'cidr': {
      const ip = parseIp(indicator.type === 'url' ? (urlHost(indicator.value) ?? '') : indicator.value);
      return ip !== undefined && list.cidrs!.has(ip);
    }
    case 'string':
      return list.strings!.has(value);
    case 'hostname': {
      let host = indicator.type === 'url' ? urlHost(indicator.value) : value;
      while (host) {
        if (list.strings!.has(host)) return true;
        const dot = host.indexOf('.');
        host = dot === -1 ? undefined : host.slice(dot + 1);
      }
      return false;
    }
    case 'substring':
      return list.substrings!.some((s) => value.includes(s));
    case 'regex':
      return list.regexes!.some((r) => r.test(indicator.value));
  }
}

async function findListFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await findListFiles(p)));
    else if (e.name === 'list.json') out.push(p);
  }
  return out;
}

async function loadList(file: string): Promise<LoadedList> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new WarninglistError(`warninglist ${file} is not valid JSON (${(err as Error).message}); fix or remove the file`);
  }
  const d = doc as Record<string, unknown>;
  if (typeof d !== 'object' || d === null || !Array.isArray(d.list)) {
    throw new WarninglistError(`warninglist ${file} has no "list" array; a MISP warninglist needs name, type and list`);
  }
  const type = d.type ?? 'string';
  if (!LIST_TYPES.includes(type as ListType)) {
    throw new WarninglistError(`warninglist ${file}: type "${String(type)}" is not supported; use one of ${LIST_TYPES.join(', ')}`);
  }
  const attrs = Array.isArray(d.matching_attributes) ? d.matching_attributes.filter((a): a is string => typeof a === 'string') : [];
  const appliesTo = new Set<IndicatorType>(attrs.length === 0 ? ALL_TYPES : attrs.flatMap((a) => ATTRIBUTE_TYPES[a] ?? []));
  const name = typeof d.name === 'string' && d.name ? d.name : path.basename(path.dirname(file));
  const entries = d.list
    .filter((v): v is string => typeof v === 'string')
    .map((v) => v.trim())
    .filter((v) => v !== '');
  const list: LoadedList = { name, file, type: type as ListType, appliesTo };
  switch (list.type) {
    case 'cidr': {
      list.cidrs = new CidrSet();
      for (const e of entries) {
        if (!list.cidrs.add(e)) throw new WarninglistError(`warninglist ${file}: "${e}" is not an IP address or CIDR block`);
      }
      break;
    }
    case 'string':
    case 'hostname':
      list.strings = new Set(entries.map((e) => e.toLowerCase().replace(/\.$/, '')));
      break;
    case 'substring':
      list.substrings = entries.map((e) => e.toLowerCase());
      break;
    case 'regex':
      list.regexes = entries.map((e) => compileRegex(e, file));
      break;
  }
  return list;
}

/** MISP regex entries are PHP PCRE literals ("/pattern/flags"); bare patterns are accepted too. */
function compileRegex(entry: string, file: string): RegExp {
  const m = /^\/(.*)\/([a-z]*)$/s.exec(entry);
  const source = m ? m[1]! : entry;
  const flags = m ? [...new Set(m[2]!.split('').filter((f) => 'ims'.includes(f)))].join('') : '';
  try {
    return new RegExp(source, flags);
  } catch (err) {
    throw new WarninglistError(`warninglist ${file}: regex "${entry}" does not compile (${(err as Error).message})`);
  }
}

/**
 * Parse cache for rule files, keyed by content hash. Parsing YAML and compiling every rule once to
 * find refusals is most of the time `fabric scan` spends before it reads a line; the result is
 * plain data, so it is kept on disk and reused while the rule text, the logsource mappings and the
 * engine's own code are unchanged (all three are part of the key: a new engine version that
 * supports a modifier must not serve yesterday's refusal).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { readdir, readFile, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../../state/atomic.js';
import type { LogsourceMapping } from '../config.js';
import type { Refusal } from './errors.js';
import { builtinLogsources, builtinLogsourceTexts, primeBuiltinLogsources } from './logsource.js';
import type { SigmaRule } from './rule.js';

const FORMAT = 1;
/** Entries kept in one cache file: a few rule sets' worth, so the file cannot grow without end. */
const MAX_ENTRIES = 50_000;
/** Cache files kept per folder (one per engine version × logsource set). */
const MAX_FILES = 4;

type Skipped = { file: string; line: number; kind: string; rule?: string };

export interface CachedParse {
  rules: SigmaRule[];
  lines: number[];
  refusals: Refusal[];
  skipped: Skipped[];
}

interface Entry {
  r: [Omit<SigmaRule, 'file'>, number][];
  f: Omit<Refusal, 'file'>[];
  s: Omit<Skipped, 'file'>[];
}

let codeHash: string | undefined;

/** Hash of the code that parses and compiles rules (this folder and the detection config). */
function engineFingerprint(): string {
  if (codeHash) return codeHash;
  const h = createHash('sha256');
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const dir of [here, path.join(here, '..')]) {
    for (const f of readdirSync(dir).sort()) {
      if (!/\.(?:ts|js)$/.test(f) || f.endsWith('.d.ts')) continue;
      h.update(f)
        .update('\0')
        .update(readFileSync(path.join(dir, f)));
    }
  }
  return (codeHash = h.digest('hex'));
}

export class RuleCache {
  private readonly used = new Map<string, Entry>();
  private dirty = false;

  private constructor(
    private readonly file: string,
    private readonly previous: Record<string, Entry>,
    /** Whether the file lacked the parsed built-in mappings (so saving adds them). */
    private readonly needsBuiltin: boolean,
  ) {}

  static async open(dir: string, logsources: readonly LogsourceMapping[]): Promise<RuleCache> {
    // The shipped mapping files are keyed by their text: parsing them is not needed to find the cache.
    const builtinHash = createHash('sha256');
    for (const { file, text } of builtinLogsourceTexts()) builtinHash.update(path.basename(file)).update('\0').update(text).update('\0');
    const fp = createHash('sha256')
      .update(`${FORMAT}\0${engineFingerprint()}\0${JSON.stringify(logsources)}\0${builtinHash.digest('hex')}`)
      .digest('hex')
      .slice(0, 24);
    const file = path.join(dir, `rules-${fp}.json`);
    let previous: Record<string, Entry> = {};
    let primed = false;
    try {
      const data = JSON.parse(await readFile(file, 'utf8')) as { format?: unknown; entries?: unknown; builtin?: unknown };
      if (data.format === FORMAT && data.entries !== null && typeof data.entries === 'object' && !Array.isArray(data.entries)) previous = data.entries as Record<string, Entry>;
      if (data.format === FORMAT && Array.isArray(data.builtin)) {
        primeBuiltinLogsources(data.builtin as LogsourceMapping[]);
        primed = true;
      }
    } catch {
      // Missing or unreadable cache: parse everything, write a fresh one.
    }
    return new RuleCache(file, previous, !primed);
  }

  private static key(text: string, file: string, builtin: boolean): string {
    // The file name is part of a rule's identity (the id of a rule without one).
    return createHash('sha256')
      .update(`${builtin ? 1 : 0}\0${path.basename(file)}\0`)
      .update(text)
      .digest('hex')
      .slice(0, 32);
  }

  get(text: string, file: string, builtin: boolean): CachedParse | undefined {
    const key = RuleCache.key(text, file, builtin);
    const e = this.used.get(key) ?? (Object.hasOwn(this.previous, key) ? this.previous[key] : undefined);
    if (!e || !Array.isArray(e.r) || !Array.isArray(e.f) || !Array.isArray(e.s)) return undefined;
    this.used.set(key, e);
    return {
      rules: e.r.map(([r]) => ({ ...r, file }) as SigmaRule),
      lines: e.r.map(([, l]) => l),
      refusals: e.f.map((x) => ({ ...x, file })),
      skipped: e.s.map((x) => ({ ...x, file })),
    };
  }

  put(text: string, file: string, builtin: boolean, parsed: CachedParse): void {
    const strip = <T extends { file: string }>({ file: _f, ...rest }: T) => rest;
    this.used.set(RuleCache.key(text, file, builtin), {
      r: parsed.rules.map((r, i) => [strip(r), parsed.lines[i]!]),
      f: parsed.refusals.map(strip),
      s: parsed.skipped.map(strip),
    });
    this.dirty = true;
  }

  /** Write the entries used now (plus older ones up to the cap) atomically; failures only cost speed. */
  async save(): Promise<void> {
    if (!this.dirty && !this.needsBuiltin) return;
    const entries: Record<string, Entry> = Object.fromEntries(this.used);
    let n = this.used.size;
    for (const [k, v] of Object.entries(this.previous)) {
      if (n >= MAX_ENTRIES) break;
      if (!Object.hasOwn(entries, k)) {
        entries[k] = v;
        n++;
      }
    }
    try {
      await writeFileAtomic(this.file, JSON.stringify({ format: FORMAT, builtin: builtinLogsources(), entries }));
      this.dirty = false;
      await prune(path.dirname(this.file), this.file);
    } catch {
      // A cache that cannot be written only costs the next start its speed-up.
    }
  }
}

async function prune(dir: string, keep: string): Promise<void> {
  const names = (await readdir(dir)).filter((n) => /^rules-[0-9a-f]+\.json$/.test(n)).map((n) => path.join(dir, n));
  if (names.length <= MAX_FILES) return;
  const withTime = await Promise.all(names.map(async (f) => ({ f, t: (await stat(f).catch(() => undefined))?.mtimeMs ?? 0 })));
  withTime.sort((a, b) => b.t - a.t);
  for (const { f } of withTime.slice(MAX_FILES)) if (f !== keep) await unlink(f).catch(() => {});
}

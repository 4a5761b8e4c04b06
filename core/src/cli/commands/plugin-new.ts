import { existsSync, realpathSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PLUGIN_API_VERSION } from '../../plugin-api/index.js';
import type { CliCommand, CliIo, ParsedArgs } from '../command.js';
import { UsageError } from '../args.js';
import { packageFolders } from '../../plugins/search-path.js';

/** Same rules npm applies to new package names. */
const NPM_NAME = /^(?:@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/;
const KINDS = ['source', 'enricher'] as const;
type Kind = (typeof KINDS)[number];

const USAGE = `fabric plugin new <name> --kind source|enricher [--dir <path>]

Creates a standalone plugin package: package.json (reactiveFabric field, keyword
reactive-fabric-plugin, peer dependency on @reactive-fabric/core), tsconfig, a typed
definePlugin() entry with its config schema, a README and a test that runs the conformance
suite. It builds and its tests pass right after \`npm install\`: its development
dependencies on @reactive-fabric/core and @reactive-fabric/test-kit are file: links to the
copies installed here (neither is on a registry).

  <name>        npm package name, e.g. reactive-fabric-plugin-acme or @acme/reactive-fabric-plugin-foo
  --kind        source (produces events) or enricher (looks up indicators)
  --dir         where to create it (default: ./<name without scope>); must be empty or absent`;

// core/templates sits beside src/ and dist/, so the same relative path works from both.
const TEMPLATES = fileURLToPath(new URL('../../../templates/plugin/', import.meta.url));
const CORE_PACKAGE_JSON = fileURLToPath(new URL('../../../package.json', import.meta.url));
const TEST_KIT = '@reactive-fabric/test-kit';

/**
 * The new package's development dependencies on core and the test kit are `file:` links to the
 * copies installed on this machine (this core, and the test kit beside it): neither is on a
 * registry, and a plugin is built against the core that will run it. Its peer dependency keeps
 * the published semver range, which is what a host checks when it installs the plugin.
 */
export function installedAuthoringPackages(cwd: string): { core: string; testKit: string | undefined } {
  const core = realpathSync(dirname(CORE_PACKAGE_JSON));
  for (const { dir } of packageFolders([core, cwd])) {
    const candidate = join(dir, TEST_KIT, 'package.json');
    if (existsSync(candidate)) return { core, testKit: realpathSync(dirname(candidate)) };
  }
  return { core, testKit: undefined };
}

export interface ScaffoldOptions {
  name: string;
  kind: Kind;
  /** Absolute target folder. */
  dir: string;
  /** Folders of the installed core and test kit the new package links to (`installedAuthoringPackages`). */
  links: { core: string; testKit: string };
}

export interface ScaffoldResult {
  dir: string;
  files: string[];
}

/** Template values derived from the package name and this core's versions. */
export async function templateValues(name: string, kind: Kind, links: ScaffoldOptions['links']): Promise<Record<string, string>> {
  const core = JSON.parse(await readFile(CORE_PACKAGE_JSON, 'utf8')) as { version: string };
  const bare = name.replace(/^@[^/]+\//, '');
  const shortName = bare.replace(/^(reactive-fabric-plugin-|plugin-)/, '') || bare;
  let ident = shortName.replace(/[^a-zA-Z0-9_]/g, '_');
  if (/^[0-9]/.test(ident)) ident = `_${ident}`;
  return {
    name,
    kind,
    shortName,
    shortNameIdent: ident,
    envPrefix: shortName.replace(/[^a-zA-Z0-9]/g, '_').toUpperCase(),
    apiRange: `^${PLUGIN_API_VERSION.split('.')[0]}.0.0`,
    coreRange: `^${core.version}`,
    // JSON string contents: a Windows path's backslashes must be escaped in package.json.
    coreLink: JSON.stringify(`file:${links.core}`).slice(1, -1),
    testKitLink: JSON.stringify(`file:${links.testKit}`).slice(1, -1),
  };
}

/** Write the plugin package into `dir` (which must be empty or absent). */
export async function scaffoldPlugin(options: ScaffoldOptions): Promise<ScaffoldResult> {
  const existing = await readdir(options.dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  if (existing.length > 0) {
    throw new UsageError(`${options.dir} already exists and is not empty: pick another --dir or remove it`);
  }
  if (!existsSync(join(TEMPLATES, 'common')) || !existsSync(join(TEMPLATES, options.kind))) {
    throw new Error(`this installation of @reactive-fabric/core has no plugin templates (${TEMPLATES} is missing): reinstall @reactive-fabric/core`);
  }
  const values = await templateValues(options.name, options.kind, options.links);
  const files: string[] = [];
  for (const layer of ['common', options.kind]) {
    for (const source of await walk(join(TEMPLATES, layer))) {
      const rel = relative(join(TEMPLATES, layer), source);
      const target = join(options.dir, outputName(rel));
      const text = fill(await readFile(source, 'utf8'), values, rel);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, text);
      files.push(relative(options.dir, target));
    }
  }
  return { dir: options.dir, files: files.sort() };
}

/** `_gitignore` → `.gitignore` (npm drops dotfiles named .gitignore from packs); `.tmpl` removed. */
function outputName(rel: string): string {
  const parts = rel.split(/[\\/]/);
  const last = parts
    .pop()!
    .replace(/\.tmpl$/, '')
    .replace(/^_/, '.');
  return join(...parts, last);
}

function fill(text: string, values: Record<string, string>, file: string): string {
  return text.replace(/\{\{(\w+)\}\}/g, (whole, key: string) => {
    const v = values[key];
    if (v === undefined) throw new Error(`template ${file} uses {{${key}}}, which the scaffold does not define`);
    return v;
  });
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

async function run(parsed: ParsedArgs, io: CliIo): Promise<number> {
  const [name, ...extra] = parsed.positionals;
  const problems: string[] = [];
  if (!name) problems.push('missing <name>: the npm package name of the new plugin, e.g. reactive-fabric-plugin-acme');
  else if (!NPM_NAME.test(name) || name.length > 214) {
    problems.push(`"${name}" is not a valid npm package name: use lower case letters, digits and - . _ ~, optionally with an @scope/, e.g. reactive-fabric-plugin-acme`);
  }
  if (extra.length > 0) problems.push(`unexpected argument(s): ${extra.join(' ')}`);
  const kind = parsed.values.kind as string | undefined;
  if (kind === undefined) problems.push('missing --kind: source (produces events) or enricher (looks up indicators)');
  else if (!(KINDS as readonly string[]).includes(kind)) problems.push(`--kind ${kind} is not a plugin kind: use source or enricher`);
  if (problems.length > 0) {
    io.stderr.write(`${problems.map((p) => `error: ${p}`).join('\n')}\n\nusage: ${USAGE}\n`);
    return 2;
  }
  const dir = resolve(io.cwd, (parsed.values.dir as string | undefined) ?? basename(name!.replace(/^@[^/]+\//, '')));
  try {
    const existing = await stat(dir).catch(() => undefined);
    if (existing && !existing.isDirectory()) throw new UsageError(`${dir} exists and is a file: pick another --dir`);
    const found = installedAuthoringPackages(io.cwd);
    if (!found.testKit) {
      io.stderr.write(
        `error: ${TEST_KIT} is not installed beside @reactive-fabric/core (${found.core}) nor in ${io.cwd}: the new plugin's tests run its conformance suite.\n` +
          `  fix: install the test kit that came with this Reactive Fabric into the same project as @reactive-fabric/core, then run this again\n`,
      );
      return 1;
    }
    const result = await scaffoldPlugin({ name: name!, kind: kind as Kind, dir, links: { core: found.core, testKit: found.testKit } });
    const rel = relative(io.cwd, dir);
    const shown = rel === '' ? '.' : rel.startsWith('..') ? dir : rel;
    io.stdout.write(
      [
        `Created ${name} (${kind} plugin) in ${shown}:`,
        ...result.files.map((f) => `  ${f}`),
        '',
        'Next:',
        `  cd ${shown}`,
        '  npm install          # typescript and vitest from the registry; core and the test kit linked from',
        `                       # ${found.core} and ${found.testKit}`,
        '  npm test             # your tests + the conformance suite',
        '  npm run build && npm pack',
        '',
        'Then, in the project that runs fabric:',
        `  npm install ${shown}/${name!.replace(/^@/, '').replace('/', '-')}-0.1.0.tgz   (or the published package)`,
        `  add it to the config under ${kind === 'source' ? 'collectors' : 'enrichers'}: with "plugin: ${name}", and run fabric validate`,
        '',
      ].join('\n'),
    );
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`error: ${err.message}\n`);
      return 2;
    }
    io.stderr.write(`error: could not create the plugin in ${dir}: ${(err as Error).message}\n`);
    return 1;
  }
}

export const commands: CliCommand[] = [
  {
    name: ['plugin', 'new'],
    summary: 'Create a new plugin package (source or enricher) from the template',
    usage: USAGE.split('\n')[0]!,
    group: 'Plugins',
    operands: true,
    flags: {
      kind: { type: 'string', short: 'k', arg: 'source|enricher', description: 'source (produces events) or enricher (looks up indicators)' },
      dir: { type: 'string', short: 'd', arg: 'path', description: 'where to create it (default: ./<name without scope>); must be empty or absent' },
    },
    details: USAGE.split('\n').slice(2).join('\n'),
    run,
  },
];

#!/usr/bin/env node
// Starts/stops a real single-node OpenSearch 2.19 on 127.0.0.1 for the log-elasticsearch plugin's
// real-engine test. The jars come from Maven Central (pom.xml beside this file) and run on Java 17
// through EmbeddedNode.java, because the distribution tarball cannot be downloaded here.
//
//   node scripts/opensearch/node.mjs start    # resolves jars (first run), starts, waits for HTTP
//   node scripts/opensearch/node.mjs stop
//   node scripts/opensearch/node.mjs status
//
// Env: OPENSEARCH_PORT (HTTP, default 19200), OPENSEARCH_TRANSPORT_PORT (default HTTP + 1000),
// OPENSEARCH_HEAP (default 512m).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const port = Number(process.env.OPENSEARCH_PORT ?? 19200);
const transportPort = Number(process.env.OPENSEARCH_TRANSPORT_PORT ?? port + 1000);
const heap = process.env.OPENSEARCH_HEAP ?? '512m';
const runDir = join(here, '.run');
const pidFile = join(runDir, 'node.pid');
const logFile = join(runDir, 'node.log');
const libDir = join(here, 'target', 'lib');
const classesDir = join(here, 'target', 'classes');
const url = `http://127.0.0.1:${port}`;

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: here, stdio: 'inherit' });
  if (r.error) throw new Error(`${cmd} could not run: ${r.error.message} (is it installed?)`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}`);
}

function ensureBuilt() {
  const haveJars = existsSync(libDir) && readdirSync(libDir).some((f) => f.startsWith('opensearch-2.19'));
  if (!haveJars) {
    console.log('resolving OpenSearch jars from Maven Central (first run only)…');
    run('mvn', ['-q', '-B', 'dependency:copy-dependencies', `-DoutputDirectory=${libDir}`]);
  }
  const source = join(here, 'java', 'EmbeddedNode.java');
  const compiled = join(classesDir, 'EmbeddedNode.class');
  if (!existsSync(compiled) || statSync(compiled).mtimeMs < statSync(source).mtimeMs) {
    mkdirSync(classesDir, { recursive: true });
    run('javac', ['-cp', `${libDir}/*`, '-d', classesDir, source]);
  }
}

async function ping() {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return undefined;
    return await res.json();
  } catch {
    return undefined;
  }
}

function readPid() {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

async function start() {
  const info = await ping();
  if (info) {
    console.log(`OpenSearch ${info.version?.number} already answering at ${url}`);
    return;
  }
  ensureBuilt();
  rmSync(join(runDir, 'home'), { recursive: true, force: true });
  mkdirSync(join(runDir, 'home'), { recursive: true });
  const out = openSync(logFile, 'w');
  const child = spawn(
    'java',
    [`-Xms${heap}`, `-Xmx${heap}`, '-XX:+UseSerialGC', '-cp', `${libDir}/*:${classesDir}`, 'EmbeddedNode', join(runDir, 'home'), String(port), String(transportPort)],
    { cwd: here, detached: true, stdio: ['ignore', out, out] },
  );
  writeFileSync(pidFile, String(child.pid));
  child.unref();
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || readPid() === undefined) break;
    const ready = await ping();
    if (ready) {
      console.log(`OpenSearch ${ready.version?.number} (${ready.version?.distribution}) ready at ${url} (pid ${child.pid}, log ${logFile})`);
      return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n') : '';
  await stop();
  throw new Error(`OpenSearch did not answer at ${url} within 180 s. Last log lines:\n${tail}`);
}

async function stop() {
  const pid = readPid();
  if (pid === undefined) {
    console.log('OpenSearch node not running');
    return;
  }
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 30 && readPid() !== undefined; i++) await new Promise((r) => setTimeout(r, 500));
  if (readPid() !== undefined) process.kill(pid, 'SIGKILL');
  rmSync(pidFile, { force: true });
  console.log(`OpenSearch node (pid ${pid}) stopped`);
}

async function status() {
  const info = await ping();
  console.log(info ? `running: OpenSearch ${info.version?.number} at ${url}` : `not running at ${url}`);
  process.exitCode = info ? 0 : 1;
}

const commands = { start, stop, status };
const cmd = commands[process.argv[2]];
if (!cmd) {
  console.error('usage: node scripts/opensearch/node.mjs start|stop|status');
  process.exit(2);
}
mkdirSync(runDir, { recursive: true });
cmd().catch((err) => {
  console.error(err.message);
  process.exit(1);
});

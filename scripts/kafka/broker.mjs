#!/usr/bin/env node
// A real single-node Apache Kafka broker (KRaft, no ZooKeeper) for development and tests.
//
//   node scripts/kafka/broker.mjs start   [--name N] [--port P] [--version V]
//   node scripts/kafka/broker.mjs stop    [--name N] [--kill]   # no --name: every instance
//   node scripts/kafka/broker.mjs status  [--name N]
//   node scripts/kafka/broker.mjs kcat               # installs Debian's kcat if missing
//
// The broker jars come from Maven Central through Maven (a throwaway pom + dependency:copy-dependencies),
// cached under ~/.cache/reactive-fabric/kafka/<version>, so a fresh machine needs only Java 17 and Maven.
// Listeners: PLAINTEXT on the port (29092), the controller on +1, SASL_PLAINTEXT on +2, mutual TLS on +3.
// Runtime state (data, log, pid, test certificates) lives in <repo>/.fabric-test/kafka/<name> (the data
// under $FABRIC_KAFKA_DATA_DIR/<name> when that is set); `start` writes the bootstrap
// address to <repo>/.fabric-test/kafka.json (kafka-<name>.json for other instances), which the tests read.
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Newest broker release verified with kafkajs 2.2.4 (producer, admin, consumer groups): see docs/kafka.md.
 * KIP-896 (Kafka 4.0) removed only protocol versions older than the ones kafkajs negotiates.
 */
export const DEFAULT_KAFKA_VERSION = '4.4.0';
// Below the kernel's ephemeral range (32768–60999): a port in that range can be taken by an
// outgoing connection — even by a client retrying to reach a stopped broker, which then connects
// to itself — and the broker's restart fails with "Address already in use".
export const DEFAULT_PORT = 29092;
// The broker logs through SLF4J 1.7; without a binding it would log nothing at all.
const SLF4J_VERSION = '1.7.36';

export function instancePaths(name = 'default') {
  const base = join(repoRoot, '.fabric-test');
  return {
    base,
    dir: join(base, 'kafka', name),
    info: join(base, name === 'default' ? 'kafka.json' : `kafka-${name}.json`),
  };
}

function cacheDir(version) {
  const root = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(root, 'reactive-fabric', 'kafka', version);
}

function log(msg) {
  process.stderr.write(`[kafka-broker] ${msg}\n`);
}

/** Download the broker and its runtime dependencies with Maven, once per version. */
export function ensureJars(version) {
  const dir = cacheDir(version);
  const libs = join(dir, 'libs');
  const marker = join(dir, 'complete');
  if (existsSync(marker)) return libs;
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.reactive-fabric</groupId>
  <artifactId>kafka-broker-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${version}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId><version>${SLF4J_VERSION}</version></dependency>
  </dependencies>
</project>
`,
  );
  log(`downloading Apache Kafka ${version} from Maven Central into ${libs} (once) ...`);
  const mvn = spawnSync('mvn', ['-q', '-B', '-Dstyle.color=never', 'dependency:copy-dependencies', '-DoutputDirectory=libs', '-DincludeScope=runtime'], {
    cwd: dir,
    stdio: ['ignore', 2, 2],
  });
  if (mvn.error) throw new Error(`cannot run Maven (${mvn.error.message}): install it (apt-get install -y maven) and Java 17`);
  if (mvn.status !== 0) throw new Error(`Maven could not fetch org.apache.kafka:kafka_2.13:${version} (exit ${mvn.status}); check the version exists on Maven Central`);
  if (!readdirSync(libs).some((f) => f.startsWith(`kafka_2.13-${version}`))) throw new Error(`Maven finished but ${libs} has no kafka_2.13-${version}.jar`);
  writeFileSync(marker, new Date().toISOString());
  return libs;
}

function classpath(libs) {
  return readdirSync(libs)
    .filter((f) => f.endsWith('.jar'))
    .map((f) => join(libs, f))
    .join(':');
}

/**
 * Listeners: PLAINTEXT on `port`, the KRaft controller on port+1, and SASL_PLAINTEXT on port+2 with
 * PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 for one test user, so the sink's SASL config is tested
 * against a real broker. The user's password is random per data dir (SCRAM credentials are stored
 * at format time) and kept in .fabric-test/kafka/<name>/sasl.json.
 */
function serverProperties({ port, controllerPort, saslPort, sslPort, dataDir, sasl, tls }) {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort},SASL_PLAINTEXT://127.0.0.1:${saslPort},SSL://127.0.0.1:${sslPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port},SASL_PLAINTEXT://127.0.0.1:${saslPort},SSL://127.0.0.1:${sslPort}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL',
    // Mutual TLS with PEM files made by ensureCertificates(): the client must show a certificate from the test CA.
    'listener.name.ssl.ssl.keystore.type=PEM',
    `listener.name.ssl.ssl.keystore.location=${tls.keystore}`,
    'listener.name.ssl.ssl.truststore.type=PEM',
    `listener.name.ssl.ssl.truststore.location=${tls.ca}`,
    'listener.name.ssl.ssl.client.auth=required',
    'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
    `listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${sasl.username}="${sasl.password}";`,
    'listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    `log.dirs=${dataDir}`,
    // The sink must create its topics itself (or refuse clearly): never let a produce auto-create one.
    'auto.create.topics.enable=false',
    'num.partitions=1',
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'log.retention.hours=24',
    '',
  ].join('\n');
}

/**
 * A throwaway CA, a broker certificate for 127.0.0.1 and a client certificate, made once per
 * instance with openssl (PEM, unencrypted PKCS#8 keys, which the broker's PEM keystore accepts).
 */
function ensureCertificates(dir) {
  const f = (n) => join(dir, n);
  const out = { ca: f('ca.pem'), keystore: f('broker-keystore.pem'), clientCert: f('client.pem'), clientKey: f('client.key') };
  if (existsSync(f('complete'))) return out;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const openssl = (...args) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.error) throw new Error(`cannot run openssl (${r.error.message}): apt-get install -y openssl`);
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  };
  writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '3650', '-subj', '/CN=Reactive Fabric test CA');
  for (const [name, cn, ext] of [
    ['broker', '127.0.0.1', ['-extfile', 'san.ext']],
    ['client', 'reactive-fabric-client', []],
  ]) {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '3650', ...ext);
  }
  writeFileSync(out.keystore, readFileSync(f('broker.key'), 'utf8') + readFileSync(f('broker.pem'), 'utf8'), { mode: 0o600 });
  writeFileSync(f('complete'), new Date().toISOString());
  return out;
}

function readInfo(name) {
  const { info } = instancePaths(name);
  try {
    return JSON.parse(readFileSync(info, 'utf8'));
  } catch {
    return undefined;
  }
}

function alive(pid) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A recycled pid must not pass for our broker.
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('kafka.Kafka');
  } catch {
    return true;
  }
}

function loadKafkajs() {
  // kafkajs is a dependency of @reactive-fabric/core, not of the repo root.
  const require = createRequire(join(repoRoot, 'core', 'package.json'));
  return require('kafkajs');
}

/** True when the broker answers a metadata request from kafkajs (the client the sink uses). */
export async function serves(bootstrap, timeoutMs = 3000) {
  const { Kafka, logLevel } = loadKafkajs();
  const admin = new Kafka({
    clientId: 'fabric-broker-probe',
    brokers: [bootstrap],
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  }).admin();
  try {
    await admin.connect();
    await admin.listTopics();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

function tail(file, lines = 40) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function start({ name = 'default', port, version } = {}) {
  const paths = instancePaths(name);
  const prev = readInfo(name);
  if (prev && alive(prev.pid) && (await serves(prev.bootstrap))) {
    log(`already running: ${prev.bootstrap} (Kafka ${prev.version}, pid ${prev.pid})`);
    return prev;
  }
  if (prev && alive(prev.pid)) {
    // Started but not serving yet (or wedged): give it the normal start-up wait below.
    log(`pid ${prev.pid} exists but does not serve yet; waiting for it`);
    return waitServing(prev, paths, name);
  }
  version ??= prev?.version ?? process.env.FABRIC_KAFKA_VERSION ?? DEFAULT_KAFKA_VERSION;
  port ??= prev?.port ?? (Number(process.env.FABRIC_KAFKA_PORT) || DEFAULT_PORT);
  const controllerPort = port + 1;
  const saslPort = port + 2;
  const sslPort = port + 3;
  const libs = ensureJars(version);
  // FABRIC_KAFKA_DATA_DIR puts the log dirs elsewhere (another disk, a tmpfs), e.g. to tell the
  // broker's disk stalls from the client's in a benchmark (docs/kafka.md).
  const dataRoot = process.env.FABRIC_KAFKA_DATA_DIR ? join(process.env.FABRIC_KAFKA_DATA_DIR, name) : paths.dir;
  const dataDir = join(dataRoot, `data-${version}`);
  const propsFile = join(paths.dir, 'server.properties');
  const logFile = join(paths.dir, 'broker.log');
  mkdirSync(paths.dir, { recursive: true });
  mkdirSync(dataRoot, { recursive: true });
  const saslFile = join(dataDir, '..', `sasl-${version}.json`);
  let sasl;
  try {
    sasl = JSON.parse(readFileSync(saslFile, 'utf8'));
  } catch {
    sasl = undefined;
  }
  const formatted = existsSync(join(dataDir, 'meta.properties')) && sasl;
  sasl ??= { username: 'fabric', password: randomBytes(12).toString('base64url') };
  const tls = ensureCertificates(join(paths.dir, 'tls'));
  writeFileSync(propsFile, serverProperties({ port, controllerPort, saslPort, sslPort, dataDir, sasl, tls }), { mode: 0o600 });
  const cp = classpath(libs);
  if (!formatted) {
    // Data from another broker version (or a half-formatted dir) is not worth migrating: it is test data.
    rmSync(dataDir, { recursive: true, force: true });
    const clusterId = randomBytes(16).toString('base64url');
    const scram = ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => ['--add-scram', `${m}=[name=${sasl.username},password=${sasl.password}]`]);
    const fmt = spawnSync('java', ['-cp', cp, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', propsFile, ...scram], { encoding: 'utf8' });
    if (fmt.error) throw new Error(`cannot run java (${fmt.error.message}): install Java 17 (apt-get install -y openjdk-17-jre-headless)`);
    if (fmt.status !== 0) throw new Error(`formatting KRaft storage failed (exit ${fmt.status}):\n${fmt.stdout}\n${fmt.stderr}`);
    writeFileSync(saslFile, JSON.stringify(sasl), { mode: 0o600 });
  }
  const out = openSync(logFile, 'a');
  const child = spawn(
    'java',
    [
      '-Xms256m',
      '-Xmx768m',
      '-XX:+UseG1GC',
      '-Djava.awt.headless=true',
      '-Dorg.slf4j.simpleLogger.defaultLogLevel=info',
      '-Dorg.slf4j.simpleLogger.showDateTime=true',
      "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ",
      '-Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients=warn',
      '-cp',
      cp,
      'kafka.Kafka',
      propsFile,
    ],
    { detached: true, stdio: ['ignore', out, out] },
  );
  closeSync(out);
  child.unref();
  // The test user's credentials go into the address file (mode 0600): it is a throwaway local broker.
  const info = {
    bootstrap: `127.0.0.1:${port}`,
    port,
    controllerPort,
    sasl: { bootstrap: `127.0.0.1:${saslPort}`, ...sasl },
    tls: { bootstrap: `127.0.0.1:${sslPort}`, ca: tls.ca, cert: tls.clientCert, key: tls.clientKey },
    version,
    pid: child.pid,
    name,
    logFile,
    dataDir,
    startedAt: new Date().toISOString(),
  };
  mkdirSync(paths.base, { recursive: true });
  rmSync(paths.info, { force: true });
  writeFileSync(paths.info, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
  return waitServing(info, paths, name);
}

async function waitServing(info, paths, name, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(info.pid)) {
      throw new Error(`Kafka broker "${name}" exited during start-up; last lines of ${info.logFile}:\n${tail(info.logFile)}`);
    }
    if (await serves(info.bootstrap, 2000)) {
      log(`serving on ${info.bootstrap} (Kafka ${info.version}, pid ${info.pid}); address written to ${paths.info}`);
      return info;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`Kafka broker "${name}" did not serve on ${info.bootstrap} within ${timeoutMs / 1000}s; see ${info.logFile}:\n${tail(info.logFile)}`);
}

export async function stop({ name = 'default', kill = false, timeoutMs = 30_000 } = {}) {
  const info = readInfo(name);
  if (!info || !alive(info.pid)) {
    log(`broker "${name}" is not running`);
    return false;
  }
  process.kill(info.pid, kill ? 'SIGKILL' : 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (alive(info.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (alive(info.pid)) {
    log(`broker pid ${info.pid} ignored SIGTERM for ${timeoutMs / 1000}s; killing it`);
    process.kill(info.pid, 'SIGKILL');
    while (alive(info.pid)) await new Promise((r) => setTimeout(r, 100));
  }
  log(`stopped broker "${name}" (pid ${info.pid})`);
  return true;
}

/** Instances that have state under .fabric-test/kafka/. */
export function instanceNames() {
  try {
    return readdirSync(join(instancePaths().base, 'kafka'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return [];
  }
}

export async function status({ name = 'default' } = {}) {
  const info = readInfo(name);
  const running = !!info && alive(info.pid);
  const serving = running && (await serves(info.bootstrap));
  return { name, running, serving, ...(info ? { bootstrap: info.bootstrap, version: info.version, pid: info.pid } : {}) };
}

/** kcat (Debian package) is the independent client the tests read topics back with. */
export function ensureKcat() {
  if (spawnSync('kcat', ['-V'], { stdio: 'ignore' }).status === 0) return true;
  log('installing kcat with apt-get (Debian package) ...');
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const run = (args) => {
    const [cmd, ...rest] = [...sudo, ...args];
    return spawnSync(cmd, rest, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
  };
  if (!run(['apt-get', 'install', '-y', '-q', 'kcat'])) {
    run(['apt-get', 'update', '-q']);
    if (!run(['apt-get', 'install', '-y', '-q', 'kcat'])) {
      log('could not install kcat: run `apt-get update && apt-get install -y kcat` yourself');
      return false;
    }
  }
  return spawnSync('kcat', ['-V'], { stdio: 'ignore' }).status === 0;
}

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--name') opts.name = argv[++i];
    else if (a === '--port') opts.port = Number(argv[++i]);
    else if (a === '--version') opts.version = argv[++i];
    else if (a === '--kill') opts.kill = true;
    else if (a === '--no-kcat') opts.noKcat = true;
    else throw new Error(`unknown option ${a}`);
  }
  if (opts.port !== undefined && !(Number.isInteger(opts.port) && opts.port > 0 && opts.port < 65535)) throw new Error('--port needs a TCP port number');
  return opts;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [cmd, ...rest] = process.argv.slice(2);
  try {
    const opts = parseArgs(rest);
    if (cmd === 'start') {
      if (!opts.noKcat) ensureKcat();
      const info = await start(opts);
      // stdout carries only the export line, so `eval "$(node scripts/kafka/broker.mjs start)"` works.
      process.stdout.write(`export FABRIC_KAFKA_BROKERS=${info.bootstrap}\n`);
    } else if (cmd === 'stop') {
      // Without --name: every instance started from this repo (a test may have left its own running).
      const names = opts.name ? [opts.name] : instanceNames();
      for (const name of names.length ? names : ['default']) await stop({ ...opts, name });
    } else if (cmd === 'status') {
      const s = await status(opts);
      process.stdout.write(JSON.stringify(s) + '\n');
      process.exitCode = s.serving ? 0 : 3;
    } else if (cmd === 'kcat') {
      process.exitCode = ensureKcat() ? 0 : 1;
    } else {
      process.stderr.write('usage: node scripts/kafka/broker.mjs start|stop|status|kcat [--name N] [--port P] [--version V] [--kill]\n');
      process.exitCode = 2;
    }
  } catch (err) {
    process.stderr.write(`[kafka-broker] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}

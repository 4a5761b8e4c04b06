// Admin API read throughput with 200 collectors registered: requests/s and p99 latency of
// GET /collectors and GET /collectors/:id, against a bare Fastify route returning the same JSON,
// in the same run (servers in one child process, autocannon here, rounds interleaved so both
// see the same machine load). Target: admin/bare ≥ 0.7. Writes bench/results/admin-api.json.
//
//   node bench/admin-api/run.mjs [--duration 5] [--rounds 2] [--connections 10] [--collectors 200]
//
// Needs a build (npx tsc -b): it runs core/dist.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i === -1 ? dflt : Number(args[i + 1]);
};
const DURATION = opt('--duration', 5);
const ROUNDS = opt('--rounds', 2);
const CONNECTIONS = opt('--connections', 10);
const COLLECTORS = opt('--collectors', 200);
const TARGET = 0.7;

const token = randomBytes(24).toString('base64url');
const child = fork(path.join(here, 'server.mjs'), [], {
  env: { ...process.env, BENCH_TOKEN: token, BENCH_COLLECTORS: String(COLLECTORS) },
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const urls = await new Promise((resolve, reject) => {
  child.once('message', resolve);
  child.once('exit', (code) => reject(new Error(`benchmark server exited with ${code}`)));
});
const headers = { authorization: `Bearer ${token}` };
const serverCpu = () =>
  new Promise((resolve) => {
    const on = (m) => {
      if (m && m.cpu) {
        child.off('message', on);
        resolve(m.cpu.user + m.cpu.system);
      }
    };
    child.on('message', on);
    child.send('cpu');
  });

const detailId = `collector-${String(Math.floor(COLLECTORS / 2)).padStart(3, '0')}`;
const endpoints = [
  { name: 'GET /collectors', path: '/collectors' },
  { name: 'GET /collectors/:id', path: `/collectors/${detailId}` },
];

// Same JSON from both, or the comparison means nothing.
for (const e of endpoints) {
  const [a, b] = await Promise.all([fetch(`${urls.admin}${e.path}`, { headers }), fetch(`${urls.bare}${e.path}`, { headers })]);
  if (a.status !== 200 || b.status !== 200) throw new Error(`${e.name}: admin ${a.status}, bare ${b.status}`);
  const [ja, jb] = [await a.json(), await b.json()];
  if (!isDeepStrictEqual(ja, jb)) throw new Error(`${e.name}: admin and bare answers differ`);
  e.bytes = JSON.stringify(ja).length;
}
if (endpoints[0].bytes && (await (await fetch(`${urls.admin}/collectors`, { headers })).json()).collectors.length !== COLLECTORS) throw new Error('collector count mismatch');

async function load(url, duration = DURATION) {
  const cpuBefore = await serverCpu();
  const r = await new Promise((resolve, reject) => {
    autocannon({ url, connections: CONNECTIONS, duration, headers }, (err, res) => (err ? reject(err) : resolve(res)));
  });
  const cpu = (await serverCpu()) - cpuBefore;
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  // Server CPU per request is steadier than req/s on a shared machine: report both.
  return { rps: r.requests.average, p99: r.latency.p99, p50: r.latency.p50, requests: r.requests.total, cpuUs: cpu / r.requests.total };
}

const results = [];
for (const e of endpoints) {
  const samples = { admin: [], bare: [] };
  // Warm-up (JIT, serializer compilation), not measured.
  for (const which of ['admin', 'bare']) await load(`${urls[which]}${e.path}`, 1);
  for (let round = 0; round < ROUNDS; round++) {
    for (const which of round % 2 === 0 ? ['admin', 'bare'] : ['bare', 'admin']) samples[which].push(await load(`${urls[which]}${e.path}`));
  }
  const mean = (xs, k) => xs.reduce((s, x) => s + x[k], 0) / xs.length;
  const summary = (xs) => ({
    rps: Math.round(mean(xs, 'rps')),
    p99Ms: Number(mean(xs, 'p99').toFixed(2)),
    p50Ms: Number(mean(xs, 'p50').toFixed(2)),
    serverCpuUsPerRequest: Number(mean(xs, 'cpuUs').toFixed(1)),
    perRound: xs.map((x) => ({ rps: Math.round(x.rps), p99Ms: x.p99 })),
  });
  const admin = summary(samples.admin);
  const bare = summary(samples.bare);
  const ratio = admin.rps / bare.rps;
  const cpuRatio = bare.serverCpuUsPerRequest / admin.serverCpuUsPerRequest;
  results.push({
    endpoint: e.name,
    responseBytes: e.bytes,
    admin,
    bare,
    ratio: Number(ratio.toFixed(3)),
    cpuEfficiencyRatio: Number(cpuRatio.toFixed(3)),
    meetsTarget: ratio >= TARGET,
  });
  console.log(
    `${e.name.padEnd(22)} admin ${String(admin.rps).padStart(6)} req/s p99 ${admin.p99Ms.toFixed(1)} ms ${admin.serverCpuUsPerRequest} µs cpu/req | ` +
      `bare ${String(bare.rps).padStart(6)} req/s p99 ${bare.p99Ms.toFixed(1)} ms ${bare.serverCpuUsPerRequest} µs cpu/req | ratio ${ratio.toFixed(2)} (cpu ${cpuRatio.toFixed(2)}; target ≥ ${TARGET})`,
  );
}

child.send('stop');
await new Promise((r) => child.once('exit', r));

const out = {
  benchmark: 'admin-api',
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
  settings: { collectors: COLLECTORS, durationSeconds: DURATION, rounds: ROUNDS, connections: CONNECTIONS, loadGenerator: 'autocannon 8 (same machine, loopback)' },
  baseline: 'bare Fastify 5 route (no auth, no schema, no hooks) returning the same JSON from the same in-memory host',
  ratio: 'admin req/s ÷ bare req/s (cpuEfficiencyRatio: bare server CPU per request ÷ admin server CPU per request)',
  target: TARGET,
  results,
};
mkdirSync(path.join(here, '../results'), { recursive: true });
writeFileSync(path.join(here, '../results/admin-api.json'), `${JSON.stringify(out, null, 2)}\n`);
console.log(`wrote bench/results/admin-api.json`);
if (results.some((r) => !r.meetsTarget)) process.exitCode = 1;

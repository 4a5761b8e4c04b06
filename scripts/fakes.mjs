#!/usr/bin/env node
// Start the four threat-intel API fakes (VirusTotal, AbuseIPDB, OTX, MISP) on fixed loopback ports
// for a manual run of examples/enrichment.yaml. Needs a build first (`npm run build`): it loads the
// fakes from packages/test-kit/dist.
//
//   node scripts/fakes.mjs                 # ports 18431-18434, public-API quotas (VirusTotal 4/min)
//   node scripts/fakes.mjs --no-quota      # no quotas, for a demo that should not wait
//   node scripts/fakes.mjs --base-port 28431
//
// Ctrl+C stops them. Every request is printed with its status, so quota hits (429) are visible.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'packages/test-kit/dist/fakes/index.js');
if (!existsSync(dist)) {
  process.stderr.write(`fakes.mjs: ${dist} is missing; build first: npm run build\n`);
  process.exit(1);
}
const fakes = await import(pathToFileURL(dist).href);

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const value = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
};
if (flag('--help') || flag('-h')) {
  process.stdout.write('usage: node scripts/fakes.mjs [--base-port 18431] [--no-quota] [--quiet]\n');
  process.exit(0);
}
const basePort = Number(value('--base-port', '18431'));
if (!Number.isInteger(basePort) || basePort < 1024 || basePort > 65530) {
  process.stderr.write(`fakes.mjs: --base-port must be an integer between 1024 and 65530, got ${value('--base-port')}\n`);
  process.exit(2);
}
const noQuota = flag('--no-quota');
const quiet = flag('--quiet');

const specs = [
  { name: 'VirusTotal', env: 'VT', Fake: fakes.VirusTotalFake, key: fakes.VT_FAKE_API_KEY, port: basePort },
  { name: 'AbuseIPDB', env: 'ABUSEIPDB', Fake: fakes.AbuseIpdbFake, key: fakes.ABUSEIPDB_FAKE_API_KEY, port: basePort + 1 },
  { name: 'OTX', env: 'OTX', Fake: fakes.OtxFake, key: fakes.OTX_FAKE_API_KEY, port: basePort + 2 },
  { name: 'MISP', env: 'MISP', Fake: fakes.MispFake, key: fakes.MISP_FAKE_API_KEY, port: basePort + 3 },
];

const running = [];
for (const s of specs) {
  const fake = new s.Fake({ port: s.port, ...(noQuota ? { quotas: {} } : {}) });
  try {
    await fake.start();
  } catch (err) {
    process.stderr.write(`fakes.mjs: cannot listen on 127.0.0.1:${s.port} for ${s.name} (${err.code ?? err.message}); pick other ports with --base-port\n`);
    for (const r of running) await r.fake.stop();
    process.exit(1);
  }
  running.push({ ...s, fake });
}

process.stdout.write('Threat-intel fakes listening (keys are fake and public):\n');
for (const r of running) process.stdout.write(`  ${r.name.padEnd(10)} ${r.fake.url}\n`);
process.stdout.write('\nexamples/enrichment.yaml uses these by default; to point it elsewhere:\n');
for (const r of running) process.stdout.write(`  export ${r.env}_BASE_URL=${r.fake.url} ${r.env}_API_KEY=${r.key}\n`);
process.stdout.write('\nthen: node core/bin/fabric.js start -c examples/enrichment.yaml\n\n');

const timer = quiet
  ? undefined
  : setInterval(() => {
      for (const r of running) {
        // Printed entries are dropped so a long manual run does not grow the log without bound.
        for (const req of r.fake.requests.splice(0)) {
          const q = new URLSearchParams(req.query).toString();
          process.stdout.write(`${new Date(req.at).toISOString()} ${r.name.padEnd(10)} ${req.status} ${req.method} ${req.path}${q ? `?${q}` : ''}\n`);
        }
      }
    }, 250);

const stop = async () => {
  if (timer) clearInterval(timer);
  for (const r of running) await r.fake.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

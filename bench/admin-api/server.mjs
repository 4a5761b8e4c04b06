// Child process of run.mjs: serves the admin API and, on another port, a bare Fastify app whose
// routes return the same JSON from the same host with nothing else (no auth, no schemas, no
// hooks, no plugins). Reports both URLs to the parent over IPC.
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { startAdminServer } from '../../core/dist/admin/index.js';
import { benchHost } from './host.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const fromCore = createRequire(path.resolve(here, '../../core/package.json'));
const { default: pino } = await import(fromCore.resolve('pino'));

const count = Number(process.env.BENCH_COLLECTORS ?? 200);
const token = process.env.BENCH_TOKEN;
const host = benchHost(count);

const admin = await startAdminServer(
  host,
  { enabled: true, port: 0, token },
  { logger: pino({ level: 'warn' }), stateDir: mkdtempSync(path.join(os.tmpdir(), 'fabric-bench-admin-')) },
);

const bare = Fastify();
bare.get('/collectors', async () => ({ collectors: host.listCollectors() }));
bare.get('/collectors/:id', async (request, reply) => {
  const detail = host.getCollector(request.params.id);
  if (!detail) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'no such collector' });
  return detail;
});
const bareUrl = await bare.listen({ host: '127.0.0.1', port: 0 });

process.send({ admin: admin.url, bare: bareUrl });
process.on('message', async (m) => {
  // CPU time of this process, so the parent can charge it to the server it is loading.
  if (m === 'cpu') return process.send({ cpu: process.cpuUsage() });
  if (m === 'stop') {
    await admin.close();
    await bare.close();
    process.exit(0);
  }
});

import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { composeFabric } from '../src/compose/index.js';
import { HostError } from '../src/host.js';
import { repoRoot, silentLogger, tempDir, until } from './helpers.js';

const fabric = join(repoRoot, 'core/bin/fabric.js');
const line = (i: number) => `Dec 10 06:55:${String(i % 60).padStart(2, '0')} LabSZ sshd[${i}]: Accepted publickey for user${i} from 10.0.0.${i % 250} port 22 ssh2`;

function setup(extra = ''): { dir: string; config: string; log: string } {
  const dir = tempDir('fabric-orch-');
  const log = join(dir, 'app.log');
  writeFileSync(log, Array.from({ length: 50 }, (_, i) => line(i)).join('\n') + '\n');
  const config = join(dir, 'fabric.yaml');
  writeFileSync(
    config,
    `state_dir: ./state
detection: { enabled: false }
orchestrator: { collection_interval_seconds: 0.05, health_check_interval_seconds: 1 }
collectors:
  - id: app
    plugin: "@reactive-fabric/plugin-log-file"
    config: { paths: [app.log] }
${extra}`,
  );
  return { dir, config, log };
}

describe('orchestrator', () => {
  it('runs collectors as supervised actors, publishes, reports status, and stops gracefully', async () => {
    const { dir, config, log } = setup();
    const orch = await composeFabric(loadConfig(config, {}), { cwd: repoRoot, logger: silentLogger() });
    const transitions: string[] = [];
    orch.events.on('transition', (t) => transitions.push(`${t.collector}:${t.to}`));
    await orch.start();
    await until(() => orch.snapshot().total.eventsPublished === 50);
    appendFileSync(log, `${line(50)}\n`);
    await until(() => orch.snapshot().total.eventsPublished === 51);
    expect(orch.listCollectors()).toEqual([
      expect.objectContaining({ id: 'app', state: 'running', plugin: '@reactive-fabric/plugin-log-file', kind: 'source', health: 'healthy' }),
    ]);
    const detail = orch.getCollector('app')!;
    expect(detail.description).toMatchObject({ backend: 'file', plugin: '@reactive-fabric/plugin-log-file' });
    expect(orch.machine('app')!.states.map((s) => s.name)).toEqual(['idle', 'starting', 'running', 'degraded', 'paused', 'restarting', 'stopping', 'stopped', 'failed']);
    expect(await orch.command('app', 'resume')).toMatchObject({ ok: false });
    await expect(orch.setCheckpoint('app', { files: {} })).rejects.toBeInstanceOf(HostError);
    expect(await orch.command('app', 'stop')).toMatchObject({ ok: true });
    await until(() => orch.listCollectors()[0]!.state === 'stopped');
    await orch.resetCheckpoint('app');
    expect((await orch.getCheckpoint('app')).value).toBeUndefined();
    await orch.stop();
    expect(transitions).toEqual(['app:starting', 'app:running', 'app:stopping', 'app:stopped']);
    const statuses = readFileSync(join(dir, 'state/status.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(statuses.map((s) => s.state)).toEqual(['starting', 'running', 'stopping', 'stopped']);
    expect(statuses[1]).toMatchObject({ collector: 'app', previous: 'starting', cause: 'DONE', schema_version: '1.0.0' });
    const published = readFileSync(join(dir, 'state/events.jsonl'), 'utf8').trim().split('\n');
    expect(published).toHaveLength(51);
  });

  it('collect() yields published batches as they are acknowledged', async () => {
    const { config } = setup();
    const orch = await composeFabric(loadConfig(config, {}), { cwd: repoRoot, logger: silentLogger() });
    await orch.start();
    let seen = 0;
    for await (const batch of orch.collect()) {
      seen += batch.length;
      if (seen >= 50) break;
    }
    expect(seen).toBe(50);
    expect(orch.isHealthy()).toBe(true);
    await orch.stop();
  });
});

describe('fabric CLI', () => {
  it('run --once writes the events, exits 0, and a second run reads nothing new', () => {
    const { dir, config } = setup();
    const first = spawnSync(process.execPath, [fabric, 'run', '--once', '-c', config], { cwd: repoRoot, encoding: 'utf8' });
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toContain('app: 50 events');
    const second = spawnSync(process.execPath, [fabric, 'run', '--once', '-c', config], { cwd: repoRoot, encoding: 'utf8' });
    expect(second.stdout).toContain('app: 0 events');
    expect(readFileSync(join(dir, 'state/events.jsonl'), 'utf8').trim().split('\n')).toHaveLength(50);
  });

  it('validate exits non-zero and names the bad field, its value and its line', () => {
    const { config } = setup();
    writeFileSync(config, readFileSync(config, 'utf8').replace('paths: [app.log]', 'paths: app.log, max_line_bytes: 3'));
    const r = spawnSync(process.execPath, [fabric, 'validate', '-c', config], { cwd: repoRoot, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('collectors[0].config.paths');
    expect(r.stderr).toContain('collectors[0].config.max_line_bytes');
    expect(r.stderr).toContain('collector "app"');
    expect(r.stderr).toMatch(/fabric\.yaml:7 /);
  });

  it('validate names a collector whose plugin is not installed and how to fix it', () => {
    const { config } = setup(`  - id: honeypot\n    plugin: "@acme/plugin-cowrie"\n`);
    const r = spawnSync(process.execPath, [fabric, 'validate', '-c', config], { cwd: repoRoot, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('collector "honeypot" uses plugin @acme/plugin-cowrie');
    // An unverified name is never offered for installation (typosquatting): where to look instead.
    expect(r.stderr).toContain('fabric plugins list');
    expect(r.stderr).not.toMatch(/(pnpm add|npm install) @acme\/plugin-cowrie/);
  });

  // Six cold starts, each loading its plugins (some in a worker): a loaded machine needs more than the default 30 s.
  it('every example config validates, naming its collectors and sink', () => {
    const dir = join(repoRoot, 'examples');
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files).toEqual(expect.arrayContaining(['quickstart.yaml', 'kafka.yaml', 'enrichment.yaml', 'elasticsearch.yaml', 'splunk.yaml', 'graylog.yaml']));
    for (const f of files) {
      const r = spawnSync(process.execPath, [fabric, 'validate', '-c', join(dir, f)], { cwd: repoRoot, encoding: 'utf8' });
      expect(r.status, `${f}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/valid \(\d+ collector/);
    }
  }, 120_000);

  it('plugins list shows the installed plugin packages', () => {
    const r = spawnSync(process.execPath, [fabric, 'plugins', 'list'], { cwd: repoRoot, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    for (const p of ['log-file', 'log-elasticsearch', 'log-splunk', 'log-graylog', 'ti-virustotal', 'ti-abuseipdb', 'ti-otx', 'ti-misp'])
      expect(r.stdout).toMatch(new RegExp(`@reactive-fabric/plugin-${p}\\s+0\\.1\\.0\\s+\\w+\\s+\\^1\\.[01]\\.0\\s+working directory\\s+yes`));
  });

  it('refuses an unknown command and an unknown flag by name', () => {
    const typo = spawnSync(process.execPath, [fabric, 'strat'], { encoding: 'utf8' });
    expect(typo.status).toBe(2);
    expect(typo.stderr).toContain("unknown command 'strat'\n(Did you mean start?)");
    const r = spawnSync(process.execPath, [fabric, 'run', '--once', '--confg', 'x'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown option '--confg'\n(Did you mean --config?)\n(fabric run --help shows the usage)");
  });
});

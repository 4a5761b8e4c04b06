import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { FabricConfigSchema } from '../../src/config/schema.js';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const deploy = (p: string) => path.join(repoRoot, 'deploy', p);
let promtool: string;
let systemdAnalyze: string;
let scratch: string;

beforeAll(() => {
  // Installs Debian's `prometheus` package when promtool is missing (CI machines start without it).
  promtool = execFileSync('bash', [path.join(repoRoot, 'scripts/ensure-promtool.sh')], { encoding: 'utf8', timeout: 240_000 })
    .trim()
    .split('\n')
    .pop()!;
  // Debian's `systemd` package when systemd-analyze is missing.
  systemdAnalyze = execFileSync('bash', [path.join(repoRoot, 'scripts/ensure-systemd-analyze.sh')], { encoding: 'utf8', timeout: 240_000 })
    .trim()
    .split('\n')
    .pop()!;
  scratch = mkdtempSync(path.join(tmpdir(), 'fabric-deploy-'));
}, 300_000);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(cmd: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Every metric name docs/metrics.md mentions (tables and the "also …" notes of the process table). */
function documentedMetrics(): Set<string> {
  const doc = readFileSync(path.join(repoRoot, 'docs/metrics.md'), 'utf8');
  return new Set([...doc.matchAll(/`((?:fabric|process|nodejs)_[a-z0-9_]+)`/g)].map((m) => m[1]!));
}

/** Metric names in PromQL text; a histogram's _bucket/_sum/_count series count as the histogram. */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\b((?:fabric|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, ''));
}

const dashboard = JSON.parse(readFileSync(deploy('grafana/reactive-fabric.json'), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
const dashboardExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
const alertRules = (readFileSync(deploy('prometheus/alerts.yml'), 'utf8').match(/^\s+expr: .*(?:\n\s{10,}.*)*/gm) ?? []).join('\n');

describe('deploy/prometheus/alerts.yml', () => {
  it('passes `promtool check rules`', () => {
    const { status, output } = run(promtool, ['check', 'rules', deploy('prometheus/alerts.yml')]);
    expect(output).toMatch(/SUCCESS: 9 rules found/);
    expect(status).toBe(0);
  });

  it('fires each alert on the series it is written for (`promtool test rules`)', () => {
    const { status, output } = run(promtool, ['test', 'rules', deploy('prometheus/alerts.test.yml')]);
    expect(output).toMatch(/SUCCESS/);
    expect(status).toBe(0);
  });

  it('uses only metrics the product exports (docs/metrics.md)', () => {
    const used = metricsIn(alertRules);
    expect(used.length).toBeGreaterThan(8);
    expect(used.filter((m) => !documentedMetrics().has(m))).toEqual([]);
  });

  it('is really checked: promtool refuses a rule with a broken expression', () => {
    const bad = path.join(scratch, 'bad.yml');
    writeFileSync(bad, 'groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: rate(fabric_events_collected_total[5m]\n');
    expect(run(promtool, ['check', 'rules', bad]).status).not.toBe(0);
  });
});

describe('deploy/grafana/reactive-fabric.json', () => {
  it('queries only metrics the product exports (docs/metrics.md)', () => {
    const documented = documentedMetrics();
    const unknown = dashboardExprs.flatMap(({ panel, expr }) =>
      metricsIn(expr)
        .filter((m) => !documented.has(m))
        .map((m) => `${panel}: ${m}`),
    );
    expect(unknown).toEqual([]);
  });

  it('shows what an operator watches: events per collector, detections, dead letters, states, quota and cache, event loop, Kafka backlog', () => {
    const all = dashboardExprs.map((e) => e.expr).join('\n');
    for (const m of [
      'fabric_events_collected_total',
      'fabric_events_published_total',
      'fabric_detection_signals_total',
      'fabric_events_dead_lettered_total',
      'fabric_collector_state',
      'fabric_enrichment_daily_budget_used',
      'fabric_enrichment_cache_hits_total',
      'fabric_event_loop_delay_seconds',
      'fabric_kafka_sink_pending_events',
    ])
      expect(all).toContain(m);
  });

  it('every panel query is valid PromQL (checked by promtool as recording rules)', () => {
    // Grafana's variables, as Grafana substitutes them.
    const rules = dashboardExprs.map(({ expr }, i) => ({
      record: `dashboard:query_${i}`,
      expr: expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '6h').replaceAll('$instance', '.*'),
    }));
    expect(rules.length).toBeGreaterThan(20);
    const file = path.join(scratch, 'dashboard-queries.yml');
    writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
    const { status, output } = run(promtool, ['check', 'rules', file]);
    expect(output).toMatch(new RegExp(`SUCCESS: ${rules.length} rules found`));
    expect(status).toBe(0);
  });
});

describe('deploy/systemd/reactive-fabric.service', () => {
  const unit = readFileSync(deploy('systemd/reactive-fabric.service'), 'utf8');
  const directives = new Map<string, string[]>();
  for (const line of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) directives.set(m[1]!, [...(directives.get(m[1]!) ?? []), m[2]!]);
  }
  const one = (key: string) => directives.get(key)?.at(-1);
  const EXEC = '/opt/reactive-fabric/node_modules/.bin/fabric';

  it('passes `systemd-analyze verify` (ExecStart pointed at this checkout, nothing else changed)', () => {
    // verify insists that ExecStart exists; the shipped unit names the documented install path.
    expect(one('ExecStart')).toBe(`${EXEC} start -c /etc/reactive-fabric/config.yaml`);
    const copy = path.join(scratch, 'reactive-fabric.service');
    writeFileSync(copy, unit.replaceAll(EXEC, path.join(repoRoot, 'core/bin/fabric.js')));
    const { status, output } = run(systemdAnalyze, ['verify', copy]);
    expect(output.trim()).toBe('');
    expect(status).toBe(0);
  });

  it('is really checked: systemd-analyze reports a misspelt directive', () => {
    const copy = path.join(scratch, 'typo.service');
    writeFileSync(copy, unit.replaceAll(EXEC, path.join(repoRoot, 'core/bin/fabric.js')).replace('NoNewPrivileges=', 'NoNewPrivilege='));
    expect(run(systemdAnalyze, ['verify', copy]).output).toMatch(/Unknown key .*NoNewPrivilege/);
  });

  it('is hardened, keeps its state, stops gracefully and reloads on SIGHUP', () => {
    expect(one('DynamicUser') === 'yes' || one('User') !== undefined).toBe(true);
    const state = one('StateDirectory');
    expect(state).toBe('reactive-fabric');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('ReadWritePaths')?.split(/\s+/)).toContain(`/var/lib/${state}`);
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('Restart')).toBe('on-failure');
    expect(one('KillSignal')).toBe('SIGTERM');
    expect(one('ExecReload')).toMatch(/kill -HUP \$MAINPID$/);
    // The orchestrator may wait shutdown_timeout_seconds for collectors and again for the sink.
    const supervisor = FabricConfigSchema.properties.supervisor as unknown as { properties: { shutdown_timeout_seconds: { default: number } } };
    const shutdown = supervisor.properties.shutdown_timeout_seconds.default;
    expect(Number(one('TimeoutStopSec'))).toBeGreaterThan(2 * shutdown);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';
import { AbuseIpdbFake, ABUSEIPDB_FAKE_API_KEY } from '@reactive-fabric/test-kit/fakes';
import type { Browser, CDPSession, Page } from 'puppeteer-core';
import { parseConfig } from '../../../src/config/load.js';
import { composeFabric } from '../../../src/compose/index.js';
import type { Orchestrator } from '../../../src/orchestrator.js';
import { startAdminServer, type AdminServer } from '../../../src/admin/index.js';
import { SecretAudit, captureLogger } from '../harness.js';

/**
 * The dashboard in a real headless Chromium (Debian's package, installed by
 * scripts/ensure-chromium.sh when missing), against the real orchestrator, xstate collector
 * machines, log-file plugin, Sigma detection and admin server, with a quickstart-like config.
 */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const shots = path.join(repoRoot, '.fabric-test', 'dashboard');
const require = createRequire(import.meta.url);
const TOKEN = 'dashboard-browser-test-token-7a9c3e51b2';
const audit = new SecretAudit();
let axeSource: string;

let dir: string;
let orch: Orchestrator;
let admin: AdminServer | undefined;
let url: string;
let browser: Browser;
let page: Page;
let cdp: CDPSession;
const abuseipdb = new AbuseIpdbFake();
const problems: string[] = [];
/** Requests the scenario makes fail on purpose (the wrong-token login). */
const expectedFailures = new Set<string>();

const FAILED = (ip: string, user: string, port: number): string => {
  const d = new Date();
  const mon = d.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  const stamp = `${mon} ${String(d.getUTCDate()).padStart(2, ' ')} ${d.toISOString().slice(11, 19)}`;
  return `${stamp} web-01 sshd[${port}]: Failed password for invalid user ${user} from ${ip} port ${port} ssh2\n`;
};

async function axeCheck(view: string): Promise<void> {
  // Evaluated over the DevTools protocol: the page's CSP (rightly) blocks an injected inline <script>.
  await page.evaluate(axeSource);
  const result = (await page.evaluate(async () => {
    const r = await (
      window as unknown as {
        axe: { run(ctx: Document, opts: unknown): Promise<{ violations: Array<{ id: string; impact: string; help: string; nodes: Array<{ target: string[] }> }> }> };
      }
    ).axe.run(document, {
      resultTypes: ['violations'],
    });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  })) as Array<{ id: string; impact: string; help: string; targets: string[] }>;
  const serious = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious, `${view}: ${JSON.stringify(serious, null, 1)}`).toEqual([]);
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

async function heapAfterGc(): Promise<number> {
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number };
  return usedSize;
}

const rowState = (id: string) => page.$eval(`tr[data-collector="${id}"] [data-testid="state"]`, (el) => el.textContent);

beforeAll(async () => {
  const chromium = execFileSync('bash', [path.join(repoRoot, 'scripts/ensure-chromium.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  await fs.mkdir(shots, { recursive: true });
  axeSource = await fs.readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
  await abuseipdb.start();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fabric-dashboard-'));
  await fs.mkdir(path.join(dir, 'app'));
  await fs.writeFile(path.join(dir, 'auth.log'), FAILED('203.0.113.50', 'admin', 40001) + FAILED('203.0.113.50', 'oracle', 40002));
  await fs.writeFile(path.join(dir, 'access.log'), '198.51.100.7 - - [03/Dec/2026:07:00:00 +0000] "GET /index.html HTTP/1.1" 200 512 "-" "curl/8.0"\n');
  await fs.writeFile(path.join(dir, 'app', 'app.log'), '');
  const yaml = `
state_dir: ./state
log_level: info
orchestrator:
  collection_interval_seconds: 0.3
  health_check_interval_seconds: 1
  degraded_after_errors: 2
  auto_restart_unhealthy: false
supervisor:
  backoff_min_seconds: 0.3
admin:
  enabled: true
  port: 0
  token: \${FABRIC_ADMIN_TOKEN}
collectors:
  - id: auth-log
    plugin: "@reactive-fabric/plugin-log-file"
    config: { paths: [auth.log], format: syslog }
  - id: web-access
    plugin: "@reactive-fabric/plugin-log-file"
    config: { paths: [access.log], format: access }
  - id: app-log
    plugin: "@reactive-fabric/plugin-log-file"
    config: { paths: [app/app.log], format: syslog }
sink:
  type: jsonl
# The sample attackers live in documentation ranges; the AbuseIPDB fake knows 203.0.113.50.
enrichment: { lookup_documentation_ranges: true, deadline_ms: 3000 }
enrichers:
  - id: abuseipdb
    plugin: "@reactive-fabric/plugin-ti-abuseipdb"
    config: { api_key: "${ABUSEIPDB_FAKE_API_KEY}", base_url: "${abuseipdb.url}" }
`;
  const env = { ...process.env, FABRIC_ADMIN_TOKEN: TOKEN };
  const loaded = parseConfig(yaml, path.join(dir, 'fabric.yaml'), env);
  const { logger } = captureLogger(audit, 'info');
  orch = await composeFabric(loaded, { cwd: repoRoot, logger, env });
  await orch.start();
  admin = await startAdminServer(orch, loaded.config.admin, { logger, stateDir: loaded.stateDir, env });
  url = admin.url;

  browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
  page = await browser.newPage();
  await page.setViewport({ width: 1360, height: 900 });
  cdp = await page.createCDPSession();
  // CSP violations reach the page as events (and Chrome also logs them as console errors).
  await page.evaluateOnNewDocument(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
  });
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    // Chrome logs every 4xx response; the ones the scenario provokes on purpose are not problems.
    const at = m.location().url ?? '';
    const status = /status of (\d{3})/.exec(m.text())?.[1];
    if (status && at && [...expectedFailures].some((k) => k.endsWith(` ${new URL(at).pathname} ${status}`))) return;
    problems.push(`console error: ${m.text()} at ${at}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${(e as Error).message}`));
  page.on('requestfailed', (r) => {
    // EventSource streams are cut when the page navigates away; that is not a failed request.
    if (r.failure()?.errorText === 'net::ERR_ABORTED' && (r.resourceType() === 'eventsource' || r.url().endsWith('/events') || r.url().endsWith('/feed'))) return;
    problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on('response', (r) => {
    const key = `${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`;
    if (r.status() >= 400 && !expectedFailures.has(key)) problems.push(`HTTP ${key}`);
  });
  page.on('response', (r) => {
    void r
      .text()
      .then((t) => audit.record(t))
      .catch(() => undefined);
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await orch?.stop();
  await admin?.close();
  await abuseipdb.stop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
  audit.assertNoneOf([TOKEN]);
});

describe('dashboard in headless Chromium', () => {
  it('sends an unauthenticated browser to the login page and explains a wrong token', async () => {
    await page.goto(`${url}/ui`);
    expect(new URL(page.url()).pathname).toBe('/ui/login');
    expectedFailures.add('POST /ui/session 401');
    await page.type('#token', 'definitely-not-the-admin-token');
    await page.click('button[type="submit"]');
    await page.waitForFunction(() => document.getElementById('login-error')?.textContent?.includes('Wrong token'), { timeout: 5000 });
    expect(await page.$eval('#token', (el) => (el as HTMLInputElement).value)).toBe('');
    await shot('login');
    await axeCheck('login');
  });

  it('logs in with the token and shows every collector with its state, never keeping the token', async () => {
    await page.type('#token', TOKEN);
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    expect(new URL(page.url()).pathname).toBe('/ui/');
    await page.waitForFunction(
      () => ['auth-log', 'web-access', 'app-log', 'abuseipdb'].every((id) => document.querySelector(`tr[data-collector="${id}"] [data-testid="state"]`)?.textContent === 'running'),
      { timeout: 15_000 },
    );
    const leaked = await page.evaluate(
      (t) => ({ dom: document.documentElement.outerHTML.includes(t), local: localStorage.length, session: sessionStorage.length, cookie: document.cookie }),
      TOKEN,
    );
    expect(leaked).toEqual({ dom: false, local: 0, session: 0, cookie: '' });
    const cookie = (await page.cookies()).find((c) => c.name === 'fabric_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(cookie!.value).not.toContain(TOKEN);
    await page.waitForFunction(() => document.querySelector('[data-testid="connection"]')?.textContent === 'live', { timeout: 5000 });
    await shot('overview');
    await axeCheck('overview');
  });

  it('restarts a collector from its page and shows restarting → running live, without a reload', async () => {
    await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));
    await page.click('tr[data-collector="auth-log"] a');
    await page.waitForSelector('svg.machine g.node.current[data-state="running"]', { timeout: 5000 });
    const commands = await page.$$eval('[data-command]', (els) => els.map((e) => e.getAttribute('data-command')));
    // Exactly what the xstate machine accepts in running.
    expect(commands.sort()).toEqual(['pause', 'restart', 'stop']);
    const restartsBefore = await page.$$eval('ol.timeline li[data-to="restarting"]', (els) => els.length);
    await page.click('[data-command="restart"]');
    await page.click('[data-confirm="yes"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="command-result"]')?.textContent?.includes('restart: accepted'), { timeout: 5000 });
    await page.waitForFunction(
      (before) => {
        const items = [...document.querySelectorAll('ol.timeline li')].map((li) => li.getAttribute('data-to'));
        const restarting = items.filter((s) => s === 'restarting').length;
        return restarting > before && items[0] === 'running' && document.querySelector('[data-testid="collector-state"]')?.textContent === 'running';
      },
      { timeout: 15_000 },
      restartsBefore,
    );
    expect(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    expect(await page.$$eval('[data-command]', (els) => els.map((e) => e.getAttribute('data-command')).sort())).toEqual(['pause', 'restart', 'stop']);
    // Where the plugin runs, and what its worker uses (from its heartbeat, after the restart too).
    await page.waitForFunction(() => /Heap[\s\S]*MB of[\s\S]*MB/.test(document.querySelector('[data-testid="resources"]')?.textContent ?? ''), { timeout: 10_000 });
    expect(await page.$eval('[data-testid="resources"]', (el) => el.textContent)).toMatch(/its own worker thread \(#\d+\)/);
    await shot('collector');
    await axeCheck('collector');
  });

  it('offers the stopped-state commands and the checkpoint reset once a collector is stopped', async () => {
    await page.goto(`${url}/ui/#/collector/web-access`);
    await page.waitForSelector('svg.machine g.node.current[data-state="running"]', { timeout: 5000 });
    const commands = () => page.$$eval('[data-command]', (els) => els.map((e) => e.getAttribute('data-command')).sort());
    expect(await page.$eval('button.danger:not([data-command])', (b) => (b as HTMLButtonElement).disabled)).toBe(true);
    await page.click('[data-command="stop"]');
    await page.click('[data-confirm="yes"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="collector-state"]')?.textContent === 'stopped', { timeout: 10_000 });
    await page.waitForFunction(() => document.querySelectorAll('[data-command]').length === 2, { timeout: 5000 });
    expect(await commands()).toEqual(['restart', 'start']);
    await page.waitForFunction(() => !(document.querySelector('button.danger:not([data-command])') as HTMLButtonElement).disabled, { timeout: 5000 });
    await page.click('button.danger:not([data-command])');
    await page.click('[data-confirm="yes"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="command-result"]')?.textContent?.includes('checkpoint removed'), { timeout: 5000 });
    const stored = (await (await fetch(`${url}/collectors/web-access/checkpoint`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { value?: unknown };
    expect(stored.value).toBeUndefined();
    await page.click('[data-command="start"]');
    await page.click('[data-confirm="yes"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="collector-state"]')?.textContent === 'running', { timeout: 10_000 });
  });

  it('shows a detection appended to the sample log in the feed within 5 s', async () => {
    await page.click('a[href="#/detections"]');
    await page.waitForSelector('#detections-table');
    await fs.appendFile(path.join(dir, 'auth.log'), FAILED('192.0.2.77', 'h7probe', 41234));
    await page.waitForFunction(
      () => [...document.querySelectorAll('#detections-table tbody tr')].some((tr) => tr.textContent!.includes('192.0.2.77') && tr.textContent!.includes('h7probe')),
      {
        timeout: 5000,
      },
    );
    const row = await page.$$eval('#detections-table tbody tr', (trs) => trs.find((tr) => tr.textContent!.includes('h7probe'))!.textContent);
    expect(row).toContain('auth-log');
    expect(row).toContain('rf_failed_authentication');
    // Pausing freezes the list; new detections wait behind the Resume button.
    await page.click('[data-testid="pause"]');
    await fs.appendFile(path.join(dir, 'auth.log'), FAILED('192.0.2.78', 'h7paused', 41235));
    await page.waitForFunction(() => document.querySelector('[data-testid="pause"]')?.textContent?.includes('1 new'), { timeout: 5000 });
    expect(await page.$eval('#detections-table', (t) => t.textContent!.includes('h7paused'))).toBe(false);
    await page.click('[data-testid="pause"]');
    await page.waitForFunction(() => document.querySelector('#detections-table')!.textContent!.includes('h7paused'), { timeout: 5000 });
    // Filtering by collector keeps only its rows.
    await page.select('#f-coll', 'auth-log');
    const collectors = await page.$$eval('#detections-table tbody tr[data-detection] td:nth-child(7)', (tds) => [...new Set(tds.map((td) => td.textContent))]);
    expect(collectors).toEqual(['auth-log']);
    await page.select('#f-coll', '');
    // Five failures from one address: the rf_brute_force correlation alert, whose member
    // detections open with one click.
    let burst = '';
    for (let i = 0; i < 5; i++) burst += FAILED('192.0.2.99', `spray${i}`, 44000 + i);
    await fs.appendFile(path.join(dir, 'auth.log'), burst);
    await page.waitForSelector('tr.alert-row[data-detection] button[aria-expanded="false"]', { timeout: 5000 });
    await page.click('tr.alert-row[data-detection] button[aria-expanded="false"]');
    await page.waitForSelector('tr.members', { timeout: 2000 });
    const members = await page.$eval('tr.members', (el) => el.textContent);
    for (let i = 0; i < 5; i++) expect(members).toContain(`spray${i}`);
    // The AbuseIPDB verdict with its evidence, and marking the indicator as a false positive.
    const ioc = 'ipv4:203.0.113.50';
    await page.waitForSelector(`button[data-mark="${ioc}"]`, { timeout: 5000 });
    const evidence = await page.$$eval(
      '#detections-table tbody tr[data-detection]',
      (trs) => trs.find((tr) => tr.textContent!.includes('203.0.113.50'))!.lastElementChild!.textContent,
    );
    expect(evidence).toContain('malicious');
    expect(evidence).toContain('abuseipdb');
    await page.click(`button[data-mark="${ioc}"]`);
    await page.waitForFunction(() => document.querySelector('#detections-table')!.textContent!.includes('marked as false positive'), { timeout: 5000 });
    const marks = (await (await fetch(`${url}/false-positives`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
      falsePositives: Array<{ indicator: { value: string } }>;
    };
    expect(marks.falsePositives.map((m) => m.indicator.value)).toContain('203.0.113.50');
    await shot('detections');
    await axeCheck('detections');
  });

  it('shows the enrichment view', async () => {
    await page.click('a[href="#/enrichment"]');
    await page.waitForSelector('#enrichment');
    await page.waitForFunction(() => document.querySelector('#enrichment-table tbody')?.textContent?.includes('abuseipdb'), { timeout: 5000 });
    const row = await page.$eval('#enrichment-table tbody tr', (el) => [...el.querySelectorAll('td')].map((td) => td.textContent));
    expect(row[0]).toBe('abuseipdb');
    expect(row[1]).toContain('running');
    // It answered the lookups of the detections above: a request count and a cache hit rate are shown.
    expect(Number(row[4]!.split('/')[0]!.replace(/,/g, ''))).toBeGreaterThan(0);
    expect(row[6]).toMatch(/% of \d+/);
    // Spent against the limits the rate limiter enforces for this source.
    expect(row[2]).toMatch(/^\d+ of \d+$/);
    expect(row[3]).toMatch(/^\d+ (of \d[\d,]*|\(no daily quota\))$/);
    await shot('enrichment');
    await axeCheck('enrichment');
  });

  it('shows why a collector forced into degraded is degraded', async () => {
    await page.click('a[href="#/"]');
    await page.waitForSelector('#collectors-table');
    // Its checkpoint file becomes a folder: the next position cannot be saved, which the
    // supervisor treats as a non-retriable error (events would be read again after a restart).
    const cp = path.join(dir, 'state', 'checkpoints', 'app-log.json');
    // The collector rewrites the file after every poll (atomically): it can land between our rm and mkdir.
    for (let attempt = 0; ; attempt++) {
      await fs.rm(cp, { force: true, recursive: true });
      try {
        await fs.mkdir(path.join(cp, 'blocker'), { recursive: true });
        break;
      } catch (err) {
        if (attempt >= 20 || !['ENOTDIR', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
      }
    }
    await fs.appendFile(path.join(dir, 'app', 'app.log'), FAILED('192.0.2.200', 'appuser', 45000));
    await page.waitForFunction(() => document.querySelector('tr[data-collector="app-log"] [data-testid="state"]')?.textContent === 'degraded', { timeout: 15_000 });
    await page.waitForFunction(() => document.querySelector('tr[data-collector="app-log"] [data-testid="last-error"]')?.textContent?.includes('CHECKPOINT_WRITE_FAILED'), {
      timeout: 5000,
    });
    const cause = await page.$eval('tr[data-collector="app-log"] [data-testid="last-error"]', (el) => el.textContent);
    expect(cause).toContain('app-log.json');
    expect(cause).toContain('Free disk space or fix permissions');
    expect(await rowState('auth-log')).toBe('running');
    // Health shows beside the state when it is not healthy (a failing collector can still be `running`).
    expect(await page.$eval('tr[data-collector="app-log"] [data-testid="health"]', (el) => el.textContent)).toBe('degraded');
    expect(await page.$('tr[data-collector="auth-log"] [data-testid="health"]')).toBeNull();
    // The operator's restart earlier is counted in total, not against the supervisor's budget.
    expect(await page.$eval('tr[data-collector="auth-log"] [data-testid="restarts"]', (el) => el.textContent)).toMatch(/^0 \/ 5.*1 in total/);
    await shot('overview-degraded');
  });

  it('keeps the JS heap flat over a minute of streaming detections', async () => {
    await page.click('a[href="#/detections"]');
    await page.waitForSelector('#detections-table');
    // Fill the feed to its bound first (500 kept): from then on memory must stay flat.
    let warm = '';
    for (let i = 0; i < 520; i++) warm += FAILED(`198.18.${i >> 8}.${i & 255}`, `warm${i}`, 30000 + i);
    await fs.appendFile(path.join(dir, 'auth.log'), warm);
    await page.waitForFunction(
      () => document.querySelector('#detections')!.textContent!.includes('500 kept') && document.querySelector('#detections-table tbody')!.textContent!.includes('warm519'),
      { timeout: 15_000 },
    );
    const start = await heapAfterGc();
    const began = Date.now();
    let n = 0;
    // Stream for ~60 s: each round appends failed logins and waits for the last one to be on screen.
    while (Date.now() - began < 60_000) {
      n++;
      const user = `stream${n}`;
      await fs.appendFile(path.join(dir, 'auth.log'), FAILED(`198.51.100.${(n % 200) + 1}`, `${user}x`, 42000 + n) + FAILED(`198.51.100.${(n % 200) + 1}`, user, 43000 + n));
      await page.waitForFunction((u) => document.querySelector('#detections-table tbody')!.textContent!.includes(u), { timeout: 10_000 }, user);
    }
    const end = await heapAfterGc();
    console.info(`dashboard heap after GC: ${start} → ${end} bytes over ${n} streaming rounds in ${Math.round((Date.now() - began) / 1000)} s`);
    expect(n).toBeGreaterThan(10);
    expect(end, `heap ${start} → ${end} bytes after ${n} rounds`).toBeLessThan(start * 2 + 5 * 1024 * 1024);
  }, 90_000);

  it('logs out: the session ends on the server and /ui goes back to the login page', async () => {
    const before = (await page.cookies()).find((c) => c.name === 'fabric_session')!;
    await Promise.all([page.waitForNavigation(), page.click('[data-testid="logout"]')]);
    expect(new URL(page.url()).pathname).toBe('/ui/login');
    await page.goto(`${url}/ui`);
    expect(new URL(page.url()).pathname).toBe('/ui/login');
    const res = await fetch(`${url}/collectors`, { headers: { cookie: `fabric_session=${before.value}` } });
    expect(res.status).toBe(401);
  });

  it('saw no console error, failed request or CSP violation on any view', () => {
    expect(problems).toEqual([]);
  });
});

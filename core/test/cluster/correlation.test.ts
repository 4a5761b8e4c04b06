// Cluster correlation (docs/cluster.md, "Correlation across instances"): three `fabric start`
// instances on a real broker, one log-file collector pinned to each, so the failed logins of one
// attacker are read on different instances. Detections are re-keyed to the owner of their
// correlation group; the alert must fire exactly once, also when that owner is killed mid-window.
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOfKey } from '../../src/correlation/cluster/index.js';
import { runId } from '../kafka/helpers.js';
import { harness, Instance, SESSION_S, steadyView, until, useClusterHarness } from './harness.js';

const { Kafka, logLevel } = kafkajs;

useClusterHarness();

/** Rule ids of the built-in correlation rules (their key in the engine). */
const BRUTE_FORCE = '7e585e14-2158-4ee9-a73a-af2b637a288f';
const INSTANCES = ['node-a', 'node-b', 'node-c'] as const;
const collectorOf = (instance: string) => `ssh-${instance.slice(-1)}`;

/** Re-keyed detections an instance correlated (fabric_cluster_correlation_records_total{kind="detection"}). */
async function correlated(i: Instance, kind = 'detection'): Promise<number> {
  const m = new RegExp(`^fabric_cluster_correlation_records_total\\{kind="${kind}"\\} (\\S+)$`, 'm').exec(await i.text('/metrics'));
  return m ? Number(m[1]) : 0;
}

/** Correlated alerts read back with read_committed, by rule name. */
class Alerts {
  readonly seen: Array<{ rule: string; text: string }> = [];
  private consumer: ReturnType<InstanceType<typeof Kafka>['consumer']> | undefined;

  async start(topic: string): Promise<void> {
    const kafka = new Kafka({ clientId: 'fabric-test-alerts', brokers: [harness.bootstrap], logLevel: logLevel.NOTHING });
    this.consumer = kafka.consumer({ groupId: `fabric-test-alerts-${runId()}`, maxWaitTimeInMs: 200 });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic, fromBeginning: true });
    await this.consumer.run({
      eachMessage: async ({ message }) => {
        const text = message.value?.toString() ?? '';
        const e = JSON.parse(text) as { fabric?: { alert_type?: string; rule?: { name?: string } } };
        if (e.fabric?.alert_type === 'correlation') this.seen.push({ rule: e.fabric.rule?.name ?? '', text });
      },
    });
  }

  of(rule: string, ip: string): number {
    return this.seen.filter((a) => a.rule === rule && a.text.includes(`"${ip}"`)).length;
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}

function stamp(at: Date): string {
  const month = at.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  return `${month} ${String(at.getUTCDate()).padStart(2, ' ')} ${at.toISOString().slice(11, 19)}`;
}

describe('correlation across three instances (real broker)', () => {
  const run = runId();
  const topic = `rf-cluster-${run}.threat_detected`;
  const files = new Map<string, string>();
  let instances: Instance[] = [];
  const alerts = new Alerts();
  let pid = 100;

  /** `n` failed logins from `ip` in the file of `instance`'s collector, stamped now (one user each when `users`). */
  const fail = (instance: string, ip: string, n: number, users?: string[]) => {
    let text = '';
    for (let i = 0; i < n; i++) {
      const user = users?.[i] ?? 'root';
      text += `${stamp(new Date())} honeypot sshd[${pid++}]: Failed password for ${user} from ${ip} port ${40000 + pid} ssh2\n`;
    }
    appendFileSync(files.get(instance)!, text);
  };
  /** The alert count must stay at `n` while the cluster keeps correlating (windows and watermarks move). */
  const stays = async (rule: string, ip: string, n: number, ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      expect(alerts.of(rule, ip), `${rule} alerts for ${ip}`).toBe(n);
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  beforeAll(async () => {
    const config = join(harness.work, `${run}.yaml`);
    for (const id of INSTANCES) {
      const f = join(harness.work, `${run}-${collectorOf(id)}.log`);
      writeFileSync(f, '');
      files.set(id, f);
    }
    writeFileSync(
      config,
      `state_dir: ./state-\${FABRIC_INSTANCE_ID}
log_level: info
orchestrator:
  collection_interval_seconds: 0.2
admin: { enabled: true, port: 0 }
supervisor: { shutdown_timeout_seconds: 5 }
sink:
  type: kafka
  brokers: ["\${RF_TEST_KAFKA_BROKERS}"]
  topics:
    detections: ${topic}
    status: rf-cluster-${run}.honeypot_status
    dead_letter: rf-cluster-${run}.dead_letter
cluster:
  group: test-${run}
  session_timeout_seconds: ${SESSION_S}
  heartbeat_interval_seconds: 0.5
  pinned:
${INSTANCES.map((id) => `    ${collectorOf(id)}: ${id}`).join('\n')}
collectors:
${INSTANCES.map(
  (id) => `  - id: ${collectorOf(id)}
    plugin: "@reactive-fabric/plugin-log-file"
    config: { base_dir: ., paths: [${run}-${collectorOf(id)}.log], format: syslog, syslog_timezone: UTC }`,
).join('\n')}
`,
    );
    instances = INSTANCES.map((id) => new Instance(id, config));
    for (const i of instances) i.start();
    await steadyView(instances, 3, 90_000);
    await alerts.start(topic);
  }, 150_000);

  afterAll(async () => {
    await alerts.stop();
    for (const i of instances) if (i.alive) i.child.kill('SIGKILL');
  });

  it('a brute force split 3/2 over collectors on two instances fires once; 2/2 does not fire', async () => {
    fail('node-a', '203.0.113.10', 3);
    fail('node-b', '203.0.113.10', 2);
    fail('node-a', '203.0.113.11', 2);
    fail('node-c', '203.0.113.11', 2);
    await until(
      'the brute-force alert for 203.0.113.10',
      () => alerts.of('rf_brute_force', '203.0.113.10'),
      (n) => n >= 1,
      30_000,
    );
    await stays('rf_brute_force', '203.0.113.10', 1, 5_000);
    expect(alerts.of('rf_brute_force', '203.0.113.11')).toBe(0);
  }, 60_000);

  it('a password spray over collectors on three instances fires once', async () => {
    const users = ['alice', 'bob', 'carol', 'dave', 'erin'];
    fail('node-a', '203.0.113.20', 2, users.slice(0, 2));
    fail('node-b', '203.0.113.20', 2, users.slice(2, 4));
    fail('node-c', '203.0.113.20', 1, users.slice(4));
    await until(
      'the password-spray alert for 203.0.113.20',
      () => alerts.of('rf_password_spraying', '203.0.113.20'),
      (n) => n >= 1,
      30_000,
    );
    await stays('rf_password_spraying', '203.0.113.20', 1, 5_000);
  }, 60_000);

  it('the same failed logins read by collectors on two instances count once (fingerprint de-duplication at the group owner)', async () => {
    let text = '';
    for (let i = 0; i < 4; i++) text += `${stamp(new Date())} honeypot sshd[${pid++}]: Failed password for root from 203.0.113.40 port ${41000 + i} ssh2\n`;
    // Both hosts ship the same auth log (a relay, two SIEM indices): 8 detections, 4 failures.
    const duplicates = async () => (await Promise.all(instances.filter((i) => i.alive).map((i) => correlated(i, 'duplicate')))).reduce((a, b) => a + b, 0);
    const before = await duplicates();
    appendFileSync(files.get('node-a')!, text);
    appendFileSync(files.get('node-c')!, text);
    // The group's owner saw the four second copies and dropped them.
    await until('the second copies reached the group owner', duplicates, (n) => n >= before + 4, 20_000);
    expect(alerts.of('rf_brute_force', '203.0.113.40'), 'four failures read twice are not a brute force').toBe(0);
    fail('node-b', '203.0.113.40', 1);
    await until(
      'the brute-force alert for 203.0.113.40 at the fifth distinct failure',
      () => alerts.of('rf_brute_force', '203.0.113.40'),
      (n) => n >= 1,
      30_000,
    );
    await stays('rf_brute_force', '203.0.113.40', 1, 3_000);
    const alert = JSON.parse(alerts.seen.find((a) => a.rule === 'rf_brute_force' && a.text.includes('"203.0.113.40"'))!.text) as { fabric: { correlation: { count: number } } };
    expect(alert.fabric.correlation.count).toBe(5);
  }, 60_000);

  it('kill -9 of the instance that owns the correlation key mid-window: the window survives, the alert fires once', async () => {
    const view = (await instances[0]!.cluster()).members;
    // An address whose correlation partition is owned by node-c, so node-a and node-b keep reading.
    let ip = '';
    for (let k = 1; k < 250 && !ip; k++) {
      const candidate = `198.18.7.${k}`;
      const owner = view.find((m) => m.slots.includes(partitionOfKey(BRUTE_FORCE, candidate)))?.instance;
      if (owner === 'node-c') ip = candidate;
    }
    expect(ip, 'an address whose brute-force group node-c owns').not.toBe('');
    const owner = instances[2]!;
    const before = await correlated(owner);
    fail('node-a', ip, 2);
    fail('node-b', ip, 2);
    // The four detections were correlated (and committed with the changelog) by node-c.
    await until(
      'node-c correlated the first four failures',
      () => correlated(owner),
      (n) => n >= before + 4,
      20_000,
    );
    await new Promise((r) => setTimeout(r, 1000));
    owner.child.kill('SIGKILL');
    await owner.exited();
    expect(alerts.of('rf_brute_force', ip)).toBe(0);
    fail('node-a', ip, 1);
    await until(
      `the brute-force alert for ${ip} from the new owner`,
      () => alerts.of('rf_brute_force', ip),
      (n) => n >= 1,
      45_000,
    );
    await stays('rf_brute_force', ip, 1, 5_000);
  }, 90_000);
});

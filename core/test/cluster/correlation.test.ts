// Cluster correlation (docs/cluster.md, "Correlation across instances"): three `fabric start`
// instances on a real broker, one log-file collector pinned to each, so the failed logins of one
// attacker are read on different instances. Detections are re-keyed to the owner of their
// correlation group; the alert must fire exactly once, also when that owner is killed mid-window.
import { appendFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOfKey } from '../../src/correlation/cluster/index.js';
import { runId } from '../kafka/helpers.js';
import { type Instance, type SshSetup, startCluster, syslogStamp, TopicEvents, until, useClusterHarness, writeSshSetup } from './harness.js';

useClusterHarness();

const INSTANCES = ['node-a', 'node-b', 'node-c'] as const;

/** Records of the correlation topic an instance read, by kind (fabric_cluster_correlation_records_total). */
async function correlated(i: Instance, kind = 'detection'): Promise<number> {
  const m = new RegExp(`^fabric_cluster_correlation_records_total\\{kind="${kind}"\\} (\\S+)$`, 'm').exec(await i.text('/metrics'));
  return m ? Number(m[1]) : 0;
}

describe('correlation across three instances (real broker)', () => {
  let setup: SshSetup;
  let instances: Instance[] = [];
  const topic = new TopicEvents();
  /** Correlated alerts of `rule` naming `ip`. */
  const alertsOf = (rule: string, ip: string) =>
    topic.events.filter((e) => e?.fabric?.alert_type === 'correlation' && e.fabric.rule?.name === rule && JSON.stringify(e).includes(`"${ip}"`));
  const fail = (instance: string, ip: string, n: number, users?: string[]) => setup.fail(instance, ip, n, users);
  /** The alert count must stay at `n` while the cluster keeps correlating (windows and watermarks move). */
  const stays = async (rule: string, ip: string, n: number, ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      expect(alertsOf(rule, ip).length, `${rule} alerts for ${ip}`).toBe(n);
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  beforeAll(async () => {
    setup = writeSshSetup(runId(), INSTANCES);
    instances = await startCluster(INSTANCES, setup.config);
    await topic.start(setup.topic);
  }, 150_000);

  afterAll(async () => {
    await topic.stop();
  });

  it('a brute force split 3/2 over collectors on two instances fires once; 2/2 does not fire', async () => {
    fail('node-a', '203.0.113.10', 3);
    fail('node-b', '203.0.113.10', 2);
    fail('node-a', '203.0.113.11', 2);
    fail('node-c', '203.0.113.11', 2);
    await until(
      'the brute-force alert for 203.0.113.10',
      () => alertsOf('rf_brute_force', '203.0.113.10').length,
      (n) => n >= 1,
      30_000,
    );
    await stays('rf_brute_force', '203.0.113.10', 1, 5_000);
    expect(alertsOf('rf_brute_force', '203.0.113.11').length).toBe(0);
  }, 60_000);

  it('a password spray over collectors on three instances fires once', async () => {
    const users = ['alice', 'bob', 'carol', 'dave', 'erin'];
    fail('node-a', '203.0.113.20', 2, users.slice(0, 2));
    fail('node-b', '203.0.113.20', 2, users.slice(2, 4));
    fail('node-c', '203.0.113.20', 1, users.slice(4));
    await until(
      'the password-spray alert for 203.0.113.20',
      () => alertsOf('rf_password_spraying', '203.0.113.20').length,
      (n) => n >= 1,
      30_000,
    );
    await stays('rf_password_spraying', '203.0.113.20', 1, 5_000);
  }, 60_000);

  it('a chained rule: brute force over two instances, then a success on the third, fires once', async () => {
    fail('node-a', '203.0.113.50', 3);
    fail('node-b', '203.0.113.50', 2);
    await until(
      'the brute-force alert for 203.0.113.50',
      () => alertsOf('rf_brute_force', '203.0.113.50').length,
      (n) => n >= 1,
      30_000,
    );
    setup.succeed('node-c', '203.0.113.50');
    await until(
      'the brute-force-then-success alert for 203.0.113.50',
      () => alertsOf('rf_brute_force_then_success', '203.0.113.50').length,
      (n) => n >= 1,
      30_000,
    );
    await stays('rf_brute_force_then_success', '203.0.113.50', 1, 3_000);
  }, 60_000);

  it('the same failed logins read by collectors on two instances count once (fingerprint de-duplication at the group owner)', async () => {
    let text = '';
    for (let i = 0; i < 4; i++) text += `${syslogStamp(new Date())} honeypot sshd[${9000 + i}]: Failed password for root from 203.0.113.40 port ${41000 + i} ssh2\n`;
    // Both hosts ship the same auth log (a relay, two SIEM indices): 8 detections, 4 failures.
    const duplicates = async () => (await Promise.all(instances.filter((i) => i.alive).map((i) => correlated(i, 'duplicate')))).reduce((a, b) => a + b, 0);
    const before = await duplicates();
    appendFileSync(setup.files.get('node-a')!, text);
    appendFileSync(setup.files.get('node-c')!, text);
    // The group's owner saw the four second copies and dropped them.
    await until('the second copies reached the group owner', duplicates, (n) => n >= before + 4, 20_000);
    expect(alertsOf('rf_brute_force', '203.0.113.40').length, 'four failures read twice are not a brute force').toBe(0);
    fail('node-b', '203.0.113.40', 1);
    await until(
      'the brute-force alert for 203.0.113.40 at the fifth distinct failure',
      () => alertsOf('rf_brute_force', '203.0.113.40').length,
      (n) => n >= 1,
      30_000,
    );
    await stays('rf_brute_force', '203.0.113.40', 1, 3_000);
    expect(alertsOf('rf_brute_force', '203.0.113.40')[0]!.fabric.correlation.count).toBe(5);
  }, 60_000);

  it('kill -9 of the instance that owns the correlation key mid-window: the window survives, the alert fires once', async () => {
    const view = (await instances[0]!.cluster()).members;
    // An address whose correlation partition is owned by node-c, so node-a and node-b keep reading.
    let ip = '';
    for (let k = 1; k < 250 && !ip; k++) {
      const candidate = `198.18.7.${k}`;
      const owner = view.find((m) => m.slots.includes(partitionOfKey(candidate)))?.instance;
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
    expect(alertsOf('rf_brute_force', ip).length).toBe(0);
    fail('node-a', ip, 1);
    await until(
      `the brute-force alert for ${ip} from the new owner`,
      () => alertsOf('rf_brute_force', ip).length,
      (n) => n >= 1,
      45_000,
    );
    await stays('rf_brute_force', ip, 1, 5_000);
  }, 90_000);
});

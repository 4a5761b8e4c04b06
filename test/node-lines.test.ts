// `engines` must promise exactly the Node lines CI runs the suite on (.ci/run's FABRIC_TEST_NODES),
// so a user on another line is warned by npm instead of finding out at run time.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const semver = createRequire(join(root, 'core/package.json'))('semver') as typeof import('semver');
const ciRun = readFileSync(join(root, '.ci/run'), 'utf8');
const lines = /FABRIC_TEST_NODES:-([^}"]+)/.exec(ciRun)?.[1]?.split(',') ?? [];
const machineLine = (process.env.FABRIC_CI_MACHINE_NODE ?? '20').trim();
const tested = lines.map((l) => (l === 'current' ? machineLine : l)).map(Number);

describe('Node lines: what CI tests is what engines promises', () => {
  it('.ci/run names the lines it tests, including a current LTS line beyond Node 20', () => {
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(tested.some((l) => l >= 22)).toBe(true);
  });

  const manifests = ['package.json', 'core/package.json', ...['plugins', 'packages'].flatMap((dir) => readdirSync(join(root, dir)).map((p) => `${dir}/${p}/package.json`))].filter(
    (m) => existsSync(join(root, m)),
  );
  it.each(manifests)('%s: engines accepts every tested line and no untested major', (manifest) => {
    const range = (JSON.parse(readFileSync(join(root, manifest), 'utf8')) as { engines?: { node?: string } }).engines?.node;
    expect(range, `${manifest} has no engines.node`).toBeTruthy();
    for (const major of tested) expect(semver.satisfies(`${major}.${major === 20 ? 18 : 0}.0`, range!), `${manifest}: ${range} must accept Node ${major}`).toBe(true);
    for (let major = 18; major <= 28; major += 2) {
      if (!tested.includes(major)) expect(semver.satisfies(`${major}.99.0`, range!), `${manifest}: ${range} accepts untested Node ${major}`).toBe(false);
    }
  });
});

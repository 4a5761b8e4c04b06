import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loghubDir } from '@reactive-fabric/test-kit/fakes';
import { runConformance } from '@reactive-fabric/test-kit';
import plugin from '../../../../plugins/log-file/src/index.js';

const repoRoot = resolve(fileURLToPath(import.meta.url), '../../../../..');
let dir = '';

runConformance(plugin, {
  packageJson: new URL('../../../../plugins/log-file/package.json', import.meta.url),
  async setup() {
    dir = await mkdtemp(join(tmpdir(), 'rf-conf-logfile-'));
    // A real auth log (Loghub OpenSSH, 2,000 syslog lines) read from the shared datasets.
    await copyFile(join(loghubDir(repoRoot), 'OpenSSH_2k.log'), join(dir, 'auth.log'));
    return () => rm(dir, { recursive: true, force: true });
  },
  validConfig: () => ({ paths: [join(dir, 'auth.log')], format: 'syslog' }),
  invalidConfigs: [
    { name: 'no paths', config: { paths: [] }, path: '/paths' },
    { name: 'unknown format', config: { paths: ['/x'], format: 'xml' }, path: '/format' },
  ],
  maxPolls: 40,
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runConformance } from '@reactive-fabric/test-kit';
import type { Checkpoint } from '@reactive-fabric/core';
import plugin from '../../../../examples/plugin-cowrie/src/index.js';
import { COWRIE_LOG } from '../../../../examples/plugin-cowrie/test/sample.js';

let dir = '';

runConformance(plugin, {
  packageJson: new URL('../../../../examples/plugin-cowrie/package.json', import.meta.url),
  async setup() {
    dir = await mkdtemp(join(tmpdir(), 'rf-conf-cowrie-'));
    await writeFile(join(dir, 'cowrie.json'), COWRIE_LOG);
    return () => rm(dir, { recursive: true, force: true });
  },
  validConfig: () => ({ path: join(dir, 'cowrie.json') }),
  invalidConfigs: [
    { name: 'empty path', config: { path: '' }, path: '/path' },
    { name: 'start_at typo', config: { path: '/x', start_at: 'begining' }, path: '/start_at' },
  ],
  failures: [
    { name: 'the log file does not exist', config: () => ({ path: join(dir, 'missing.json') }), codes: ['UNAVAILABLE'] },
    { name: 'the path is a folder', config: () => ({ path: dir }), codes: ['BAD_CONFIG'] },
  ],
  compareCheckpoints: (a: Checkpoint, b: Checkpoint) => {
    const x = a as { ino: number; offset: number };
    const y = b as { ino: number; offset: number };
    return x.ino === y.ino ? x.offset - y.offset : 0;
  },
});

// Benchmarks measure fabric as it is started: with the V8 flags of core/src/cli/node-flags.ts (the
// fabric bin's shebang, the systemd unit and the quickstart set them). Run without them, a benchmark
// starts itself again with them, so its baseline and fabric share one process and one set of flags.
// `--node-defaults` measures with V8's defaults instead. fabric also sets RUNTIME_V8_FLAGS on itself
// at start (Node refuses them in NODE_OPTIONS); the benchmark process does the same.
import { spawnSync } from 'node:child_process';
import { applyRuntimeV8Flags, missingNodeFlags } from '../core/dist/cli/node-flags.js';

/** RUNTIME_V8_FLAGS this process set on itself. */
let runtimeV8Flags = [];

/** Call first thing: returns only in the process that runs the benchmark. */
export function runWithNodeFlags() {
  if (process.argv.includes('--node-defaults')) return;
  const missing = missingNodeFlags(process.execArgv, process.env.NODE_OPTIONS ?? '');
  if (missing.length === 0) {
    // The flags `fabric start` sets on itself: the baseline runs under them too (one process).
    runtimeV8Flags = applyRuntimeV8Flags(process.execArgv);
    return;
  }
  const r = spawnSync(process.execPath, [...missing, ...process.execArgv, process.argv[1], ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

/** What a result file records of how node ran. */
export const nodeFlags = () => ({ exec_argv: process.execArgv, node_options: process.env.NODE_OPTIONS ?? '', runtime_v8_flags: runtimeV8Flags });

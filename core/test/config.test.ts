import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { ConfigError } from '../src/config/errors.js';

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parseConfig(text, '/etc/fabric/test.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('config was accepted');
}

describe('config loading', () => {
  it('applies the documented defaults', () => {
    const { config, stateDir } = parseConfig('collectors: []\n', '/etc/fabric/test.yaml', {});
    expect(config.orchestrator).toMatchObject({
      collection_interval_seconds: 60,
      event_batch_size: 100,
      max_concurrent_collections: 3,
      health_check_interval_seconds: 30,
      auto_restart_unhealthy: true,
      event_deduplication_window_seconds: 300,
    });
    expect(config.sink).toEqual({ type: 'jsonl', fsync: true });
    expect(stateDir).toBe('/etc/fabric/.fabric');
  });

  it('refuses an unknown key by name and line instead of falling back to a default', () => {
    const err = problemsOf('orchestrator:\n  collection_interval_secnds: 5\n');
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain('orchestrator.collection_interval_secnds');
    expect(err.message).toContain('unknown field');
    expect(err.message).toContain('/etc/fabric/test.yaml:2');
  });

  it('names the field, the bad value and its line for a wrong type', () => {
    const err = problemsOf('collectors:\n  - id: a\n    plugin: x\n    interval_seconds: soon\n');
    expect(err.message).toMatch(/collectors\[0\]\.interval_seconds/);
    expect(err.message).toContain('"soon"');
    expect(err.problems[0]!.line).toBe(4);
  });

  it('interpolates ${ENV} and remembers interpolated values as secrets', () => {
    const loaded = parseConfig('collectors:\n  - id: a\n    plugin: x\n    config: { key: "${API_KEY}", other: "${NOPE:-fallback}" }\n', '/tmp/x.yaml', { API_KEY: 'sekrit-123' });
    expect(loaded.config.collectors[0]!.config).toEqual({ key: 'sekrit-123', other: 'fallback' });
    expect(loaded.interpolated).toContain('sekrit-123');
  });

  it('does not take the cluster instance id for a secret (it names the instance in every log line)', () => {
    const loaded = parseConfig('state_dir: ./state-${FABRIC_INSTANCE_ID}\ncollectors: []\n', '/tmp/x.yaml', { FABRIC_INSTANCE_ID: 'node-a' });
    expect(loaded.config.state_dir).toBe('./state-node-a');
    expect(loaded.interpolated).not.toContain('node-a');
  });

  it('reports a missing environment variable with the field that needs it', () => {
    const err = problemsOf('collectors:\n  - id: a\n    plugin: x\n    config: { key: "${VT_KEY}" }\n');
    expect(err.code).toBe('CONFIG_ENV_MISSING');
    expect(err.message).toContain('VT_KEY');
    expect(err.message).toContain('collectors[0].config.key');
  });

  it('refuses duplicate collector ids', () => {
    const err = problemsOf('collectors:\n  - { id: a, plugin: x }\n  - { id: a, plugin: y }\n');
    expect(err.message).toContain('duplicate collector id "a"');
  });

  it('reports YAML syntax errors with a line', () => {
    const err = problemsOf('collectors:\n  - id: a\n   plugin: [x\n');
    expect(err.code).toBe('CONFIG_SYNTAX');
    expect(err.problems[0]!.line).toBeGreaterThan(0);
  });
});

import { describe, expect, it } from 'vitest';
import { Type, checkpointSchemaErrors, definePlugin } from '@reactive-fabric/core';
import type { Checkpoint } from '@reactive-fabric/core';
import { createTestHost } from '@reactive-fabric/test-kit';

/** A plugin whose poll() writes checkpoints its own checkpointSchema refuses would fail at its next start: the test host says so first. */
function plugin(written: Checkpoint) {
  return definePlugin({
    name: 'reactive-fabric-plugin-drifting-checkpoint',
    version: '0.1.0',
    kind: 'source',
    apiVersion: '^1.0.0',
    configSchema: Type.Object({}),
    checkpointSchema: Type.Object({ offset: Type.Integer({ minimum: 0 }) }),
    create: () => ({ poll: async () => ({ events: [], checkpoint: written }) }),
  });
}

describe('TestHost and checkpointSchema', () => {
  it('refuses a poll whose checkpoint does not match the declared schema, naming the field', async () => {
    const host = await createTestHost(plugin({ offset: '12' }), {});
    await expect(host.poll()).rejects.toMatchObject({ code: 'CONTRACT_VIOLATION', message: expect.stringContaining('/offset') });
    await host.dispose();
  });

  it('accepts one that matches', async () => {
    const host = await createTestHost(plugin({ offset: 12 }), {});
    await host.poll();
    expect(host.checkpoint).toEqual({ offset: 12 });
    await host.dispose();
  });

  it("a checkpointSchema that is not a schema is the plugin's bug, said as such", () => {
    expect(() => checkpointSchemaErrors('offset' as never, { offset: 1 })).toThrow(
      expect.objectContaining({ code: 'CONTRACT_VIOLATION', message: expect.stringContaining('checkpointSchema is not a usable JSON Schema') }),
    );
  });
});

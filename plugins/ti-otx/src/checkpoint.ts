import { Type } from '@reactive-fabric/core';

const Strings = Type.Array(Type.String());

/** What OtxFeed.poll() writes (see OtxCheckpoint in feed.ts); the host refuses other shapes. */
export const OtxCheckpointSchema = Type.Object({
  since: Type.String({ minLength: 1, description: 'modified_since of the current chain (OTX time)' }),
  boundary: Strings,
  chain: Type.Optional(
    Type.Object({
      page: Type.String({ pattern: '^/pulses/subscribed', description: 'the page being worked on' }),
      high: Type.String(),
      highKeys: Strings,
      done: Strings,
      partial: Type.Optional(Type.Object({ key: Type.String(), offset: Type.Integer({ minimum: 0 }) })),
    }),
  ),
});

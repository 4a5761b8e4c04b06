import { Type } from '@reactive-fabric/core';

const Strings = Type.Array(Type.String());
const Count = Type.Integer({ minimum: 0 });

/** What MispFeed.poll() writes (see MispCheckpoint in feed.ts); the host refuses other shapes. */
export const MispCheckpointSchema = Type.Object({
  since: Type.Integer({ minimum: 0, description: 'epoch seconds of the current chain' }),
  boundary: Strings,
  chain: Type.Optional(Type.Object({ page: Count, limit: Count, high: Count, highKeys: Strings, done: Strings })),
});

import { Type } from '@reactive-fabric/core';

/** What BlacklistFeed.poll() writes (see BlacklistCheckpoint in feed.ts); the host refuses other shapes. */
export const BlacklistCheckpointSchema = Type.Object({
  since: Type.Optional(Type.String({ format: 'date-time' })),
  boundary: Type.Array(Type.String(), { description: 'addresses already emitted at exactly `since`' }),
  fetchedAt: Type.Optional(Type.String({ format: 'date-time' })),
  complete: Type.Optional(Type.Boolean()),
});

import Type from 'typebox';

/** `sink:` with `type: jsonl` — the embedded default. */
export const JsonlSinkConfigSchema = Type.Object(
  {
    type: Type.Literal('jsonl'),
    path: Type.Optional(Type.String({ minLength: 1, description: 'Events file; default <state_dir>/events.jsonl' })),
    status_path: Type.Optional(Type.String({ minLength: 1, description: 'Collector status file; default <state_dir>/status.jsonl' })),
    fsync: Type.Boolean({ default: true, description: 'fsync after every batch (durability before checkpoint commit).' }),
  },
  { additionalProperties: false },
);

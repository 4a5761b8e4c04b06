import Type from 'typebox';

/** `sink:` with `type: kafka`. Owned by the Kafka sink (issue 4). */
export const KafkaSinkConfigSchema = Type.Object(
  {
    type: Type.Literal('kafka'),
    brokers: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'host:port of bootstrap brokers' }),
  },
  { additionalProperties: false },
);

import Type from 'typebox';

/** `correlation:` section. Owned by the correlation stage (issue 9). */
export const CorrelationConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
  },
  { additionalProperties: false, default: {} },
);

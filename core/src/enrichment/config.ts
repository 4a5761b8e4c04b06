import Type from 'typebox';

/** `enrichment:` section. Owned by the enrichment stage (issue 7). */
export const EnrichmentConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
  },
  { additionalProperties: false, default: {} },
);

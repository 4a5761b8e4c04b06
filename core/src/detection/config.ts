import Type from 'typebox';

/** `detection:` section. Owned by the detection engine (issue 3). */
export const DetectionConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'Run Sigma rules over every event.' }),
  },
  { additionalProperties: false, default: {} },
);

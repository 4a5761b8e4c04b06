import Type from 'typebox';

/** `admin:` section. Owned by the admin API (issue 5). */
export const AdminConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: false, description: 'Serve the admin API.' }),
    host: Type.String({ default: '127.0.0.1' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8600 }),
  },
  { additionalProperties: false, default: {} },
);

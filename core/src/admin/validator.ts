import type { FastifySchemaCompiler } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

type Props = Record<string, { type?: unknown }>;

/**
 * Query strings, path parameters and headers arrive as strings. Convert only what is exactly a
 * number or a boolean where the schema wants one; anything else (`limit=true`, `wait=`) stays a
 * string and fails validation with 400. TypeBox's own Value.Convert is more forgiving than an
 * API should be (it turns `true` into 1 and "" into 0).
 */
function convertStrict(properties: Props | undefined, value: unknown): unknown {
  if (!properties || value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const [key, raw] of Object.entries(out)) {
    const type = properties[key]?.type;
    if (typeof raw !== 'string') continue;
    if ((type === 'number' || type === 'integer') && NUMBER.test(raw)) out[key] = Number(raw);
    else if (type === 'boolean' && (raw === 'true' || raw === 'false')) out[key] = raw === 'true';
  }
  return out;
}

/** Fastify validator compiler: TypeBox's compiled checks with strict string conversion. */
export const strictTypeBoxCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = Compile(schema);
  const properties = (schema as { properties?: Props }).properties;
  return (value) => {
    const converted = httpPart === 'body' ? value : convertStrict(properties, value);
    if (check.Check(converted)) return { value: converted };
    return { error: check.Errors(converted) as never };
  };
};

import { secretValues } from '@reactive-fabric/core/runtime';
import type { TSchema } from '@reactive-fabric/core';

/** Secret values of a config: every `Secret()` field's value plus any the caller names. */
export function collectSecrets(schema: TSchema, config: unknown, extra: readonly string[] = []): string[] {
  const found = new Set<string>([...secretValues(schema, config), ...extra].filter((s) => typeof s === 'string' && s.length >= 4));
  return [...found];
}

/** Where (which of `places`) a secret shows up; `places` maps a label to any JSON-able value. */
export function findLeakedSecrets(secrets: readonly string[], places: Record<string, unknown>): string[] {
  const leaks: string[] = [];
  for (const [label, value] of Object.entries(places)) {
    const text = safeStringify(value);
    for (const secret of secrets) {
      if (text.includes(secret)) leaks.push(`${label} contains the secret value ${mask(secret)}`);
    }
  }
  return leaks;
}

function mask(secret: string): string {
  return `"${secret.slice(0, 2)}…" (${secret.length} chars)`;
}

export function safeStringify(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return (
      JSON.stringify(value, (_k, v: unknown) => {
        if (v instanceof Error) return { name: v.name, message: v.message, stack: v.stack, ...(v as unknown as Record<string, unknown>) };
        if (typeof v === 'bigint') return v.toString();
        return v;
      }) ?? String(value)
    );
  } catch {
    return String(value);
  }
}

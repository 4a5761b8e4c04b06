import { createHash } from 'node:crypto';

/**
 * A stable digest of everything that changes a source's answers (API key, endpoint, options).
 * The key goes in only as part of a SHA-256 input, so the digest reveals nothing usable.
 */
export function configFingerprint(plugin: string, parts: Record<string, unknown>): string {
  const h = createHash('sha256');
  h.update(plugin);
  for (const k of Object.keys(parts).sort()) {
    h.update('\u0000');
    h.update(k);
    h.update('\u0000');
    h.update(JSON.stringify(parts[k] ?? null));
  }
  return `${plugin}:${h.digest('hex')}`;
}

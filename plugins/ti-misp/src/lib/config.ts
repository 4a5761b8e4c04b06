import { Secret, Type } from '@reactive-fabric/core';

export interface ConfigDefaults {
  vendor: string;
  baseUrl: string;
  requestsPerMinute: number;
  requestsPerDay?: number;
}

/** Config fields every threat-intel enricher shares (the seed's names and defaults). */
export function commonFields(d: ConfigDefaults) {
  return {
    api_key: Secret({ description: `${d.vendor} API key. Write \${ENV_VAR} in the YAML to keep it out of the file.` }),
    base_url: Type.String({ default: d.baseUrl, pattern: '^https?://[^\\s]+$', description: `API root; default ${d.baseUrl}. Point it at a proxy or a test fake.` }),
    requests_per_minute: Type.Integer({ minimum: 1, default: d.requestsPerMinute, description: 'Budget the enrichment stage keeps to; never set it above your plan.' }),
    requests_per_day: Type.Integer({ minimum: 1, default: d.requestsPerDay ?? 100_000, description: 'Daily budget (00:00 UTC reset).' }),
    cache_ttl_minutes: Type.Number({ minimum: 0, default: 60, description: 'How long the enrichment stage reuses an answer (also "unknown" answers).' }),
    min_reputation_score: Type.Number({ minimum: 0, maximum: 1, default: 0.3, description: 'Scores below this are reported "clean"; detections below it are routed low priority.' }),
    timeout_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 300, default: 10, description: 'Deadline of one HTTP request.' }),
  };
}

export const Check = (what: string, dflt = true) => Type.Boolean({ default: dflt, description: `Look up ${what}.` });

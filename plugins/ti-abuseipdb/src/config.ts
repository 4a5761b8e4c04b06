import { checkField, enricherConfigFields, spanLimit, Type } from '@reactive-fabric/core';
import type { Static } from '@reactive-fabric/core';

export const AbuseIpdbConfigSchema = Type.Object(
  {
    ...enricherConfigFields({ vendor: 'AbuseIPDB', baseUrl: 'https://api.abuseipdb.com/api/v2', requestsPerMinute: 60, requestsPerDay: 1000 }),
    check_ips: checkField('IPv4/IPv6 addresses (/check); AbuseIPDB knows IPs only'),
    max_age_days: Type.Integer({ minimum: 1, maximum: 365, default: 30, description: 'Only reports from the last N days count (maxAgeInDays).' }),
    use_check_block: Type.Boolean({
      default: false,
      description: 'Ask /check-block once for several IPv4 addresses of one /24 instead of /check per address (free tier: 100 check-block requests a day).',
    }),
    check_block_min_ips: Type.Integer({ minimum: 2, maximum: 256, default: 3, description: 'Addresses of one /24 in a batch before check-block is used.' }),
    blacklist_confidence_minimum: Type.Integer({ minimum: 25, maximum: 100, default: 90, description: 'Feed: lowest abuseConfidenceScore taken from /blacklist.' }),
    blacklist_limit: Type.Integer({ minimum: 1, maximum: 500_000, default: 10_000, description: 'Feed: entries asked for (free tier: 10,000).' }),
    blacklist_interval_minutes: Type.Number({
      ...spanLimit('minutes'),
      minimum: 1,
      default: 360,
      description: 'Feed: least time between two /blacklist downloads (free tier: 5 a day, so keep it at 288 or more).',
    }),
  },
  { additionalProperties: false },
);

export type AbuseIpdbConfig = Static<typeof AbuseIpdbConfigSchema>;

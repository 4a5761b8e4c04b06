import { checkField, enricherConfigFields, spanLimit, Type } from '@reactive-fabric/core';
import type { Static } from '@reactive-fabric/core';

const Tlp = Type.Union([Type.Literal('clear'), Type.Literal('white'), Type.Literal('green'), Type.Literal('amber'), Type.Literal('amber+strict'), Type.Literal('red')]);

export const OtxConfigSchema = Type.Object(
  {
    ...enricherConfigFields({ vendor: 'AlienVault OTX', baseUrl: 'https://otx.alienvault.com/api/v1', requestsPerMinute: 60, requestsPerDay: 10_000 }),
    check_ips: checkField('IPv4/IPv6 addresses (/indicators/IPv4|IPv6/{ip}/general)'),
    check_domains: checkField('domains (/indicators/domain/{domain}/general)'),
    check_hashes: checkField('MD5/SHA-1/SHA-256 file hashes (/indicators/file/{hash}/general)'),
    check_urls: checkField('URLs (/indicators/url/{url}/general)'),
    malicious_pulses: Type.Integer({ minimum: 1, default: 3, description: 'Pulses naming an indicator before OTX alone calls it malicious.' }),
    feed_page_size: Type.Integer({ minimum: 1, maximum: 50, default: 20, description: 'Feed: pulses per /pulses/subscribed page (limit).' }),
    feed_since: Type.Optional(Type.String({ format: 'date-time', description: 'Feed: first modified_since when there is no checkpoint yet (ISO 8601).' })),
    feed_lookback_days: Type.Number({ ...spanLimit('days'), minimum: 0, default: 30, description: 'Feed: without feed_since, start this many days back.' }),
    feed_max_tlp: Type.Union([Tlp], { default: 'amber', description: 'Feed: pulses marked above this TLP are not collected.' }),
  },
  { additionalProperties: false },
);

export type OtxConfig = Static<typeof OtxConfigSchema>;

import { checkField, enricherConfigFields, Type } from '@reactive-fabric/core';
import type { Static } from '@reactive-fabric/core';

export const VirusTotalConfigSchema = Type.Object(
  {
    ...enricherConfigFields({ vendor: 'VirusTotal', baseUrl: 'https://www.virustotal.com/api/v3', requestsPerMinute: 4, requestsPerDay: 500 }),
    check_ips: checkField('IPv4/IPv6 addresses (/ip_addresses)'),
    check_domains: checkField('domains (/domains)'),
    check_hashes: checkField('MD5/SHA-1/SHA-256 file hashes (/files)'),
    check_urls: checkField('URLs (/urls, id = unpadded URL-safe base64)'),
    malicious_engines: Type.Integer({ minimum: 1, default: 3, description: 'Engines flagging an indicator malicious before VirusTotal alone calls it malicious.' }),
  },
  { additionalProperties: false },
);

export type VirusTotalConfig = Static<typeof VirusTotalConfigSchema>;

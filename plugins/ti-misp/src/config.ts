import { checkField, enricherConfigFields, spanLimit, Type } from '@reactive-fabric/core';
import type { Static } from '@reactive-fabric/core';

const Tlp = Type.Union([Type.Literal('clear'), Type.Literal('white'), Type.Literal('green'), Type.Literal('amber'), Type.Literal('amber+strict'), Type.Literal('red')]);
const common = enricherConfigFields({ vendor: 'MISP', baseUrl: 'https://misp.example', requestsPerMinute: 60 });

export const MispConfigSchema = Type.Object(
  {
    ...common,
    // MISP is self-hosted: there is no vendor default to fall back on.
    base_url: Type.String({ pattern: '^https?://[^\\s]+$', description: 'Your MISP instance, e.g. https://misp.internal (no trailing /attributes).' }),
    check_ips: checkField('IPv4/IPv6 addresses (ip-src, ip-dst, ip-*|port, domain|ip attributes)'),
    check_domains: checkField('domains and hostnames'),
    check_hashes: checkField('MD5/SHA-1/SHA-256 (also filename|hash attributes)'),
    check_urls: checkField('URLs'),
    max_batch_size: Type.Integer({ minimum: 1, maximum: 500, default: 50, description: 'Indicators sent as one restSearch value list.' }),
    lookup_limit: Type.Integer({ minimum: 1, maximum: 100_000, default: 1000, description: 'Most attributes one lookup request returns.' }),
    enforce_warninglist: Type.Boolean({ default: true, description: 'Ask MISP to drop attributes on its own warninglists (enforceWarninglist).' }),
    feed_page_size: Type.Integer({ minimum: 1, maximum: 10_000, default: 100, description: 'Feed: attributes per restSearch page (limit).' }),
    feed_since: Type.Optional(Type.String({ description: 'Feed: first timestamp when there is no checkpoint yet (ISO 8601).' })),
    feed_lookback_days: Type.Number({ ...spanLimit('days'), minimum: 0, default: 30, description: 'Feed: without feed_since, start this many days back.' }),
    feed_to_ids_only: Type.Boolean({ default: true, description: 'Feed: only attributes flagged for detection (to_ids).' }),
    feed_max_tlp: Type.Union([Tlp], { default: 'amber', description: 'Feed: attributes tagged above this TLP are not collected.' }),
    // Self-hosted MISP often has a certificate from an internal CA, sometimes requires client certificates.
    tls: Type.Object(
      {
        ca_file: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of the CA that signed the MISP server certificate.' })),
        verify: Type.Boolean({ default: true, description: 'Verify the server certificate and host name (false: testing only; logged as a warning).' }),
        cert_file: Type.Optional(Type.String({ minLength: 1, description: 'Client certificate (PEM) when MISP requires one; needs key_file.' })),
        key_file: Type.Optional(Type.String({ minLength: 1, description: 'Private key (PEM) of cert_file.' })),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type MispConfig = Static<typeof MispConfigSchema>;

import Type from 'typebox';
import type { Static } from 'typebox';
import { Secret, timerLimit } from '../plugin-api/schema.js';

/** Shortest bearer token accepted from config or FABRIC_ADMIN_TOKEN: shorter ones are guessable. */
export const MIN_TOKEN_LENGTH = 16;

/** `admin:` section. Owned by the admin API (issue 5). */
export const AdminConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: false, description: 'Serve the admin API.' }),
    host: Type.String({ default: '127.0.0.1', description: 'Address to bind. Keep 127.0.0.1 unless a TLS proxy sits in front.' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8600, description: '0 picks a free port (written to <state_dir>/admin-url).' }),
    token: Type.Optional(
      Secret({
        minLength: MIN_TOKEN_LENGTH,
        description:
          'Bearer token required on every route but /health and /ready. Overridden by the FABRIC_ADMIN_TOKEN environment variable; ' +
          'when neither is set, one is generated and stored in <state_dir>/admin-token (mode 0600).',
      }),
    ),
    body_limit_bytes: Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024, default: 65536, description: 'Largest request body accepted (413 beyond).' }),
    rate_limit: Type.Object(
      {
        max: Type.Integer({ minimum: 1, default: 60, description: 'Mutating requests (POST/PUT/DELETE) allowed per client per window; 429 beyond.' }),
        window_seconds: Type.Number({ exclusiveMinimum: 0, default: 60, ...timerLimit('seconds') }),
      },
      { additionalProperties: false, default: {} },
    ),
    metrics_public: Type.Boolean({ default: false, description: 'Serve GET /metrics without the token (for a Prometheus scraper on a trusted network).' }),
    docs_public: Type.Boolean({
      default: true,
      description: 'Serve /docs and /openapi.json without the token so a browser can open them; they describe the API and hold no data.',
    }),
    auth_failure_limit: Type.Object(
      {
        max: Type.Integer({
          minimum: 1,
          default: 20,
          description: 'Failed authentications allowed per remote address per window; 429 beyond. A valid token is never refused by this limit.',
        }),
        window_seconds: Type.Number({ exclusiveMinimum: 0, default: 60, ...timerLimit('seconds') }),
      },
      { additionalProperties: false, default: {} },
    ),
    allowed_hosts: Type.Array(Type.String({ minLength: 1, maxLength: 253, pattern: '^[^\\s/@]+$' }), {
      default: [],
      maxItems: 100,
      description:
        'Extra Host header values accepted (e.g. "fabric.internal" or "fabric.internal:8600" behind a proxy). Always accepted: localhost, 127.0.0.1, [::1] and the bind address, with the port. Other Host values get 421 (DNS-rebinding defence).',
    }),
    sse_heartbeat_seconds: Type.Number({
      exclusiveMinimum: 0,
      default: 15,
      ...timerLimit('seconds'),
      description: 'Comment line sent on idle /events streams so proxies keep them open.',
    }),
    sse_max_clients: Type.Integer({ minimum: 1, maximum: 10000, default: 100, description: 'Open /events streams in total; 503 beyond.' }),
    sse_max_clients_per_token: Type.Integer({
      minimum: 1,
      maximum: 10000,
      default: 20,
      description: 'Open /events streams per authenticated identity (token or session); 429 beyond.',
    }),
    sse_max_buffered_bytes: Type.Integer({
      minimum: 4096,
      maximum: 16 * 1024 * 1024,
      default: 256 * 1024,
      description: 'Bytes queued for one /events client that does not read; past it the client is disconnected (fabric_admin_sse_clients_dropped_total).',
    }),
    sse_replay_size: Type.Integer({ minimum: 0, maximum: 100000, default: 1000, description: 'Events kept for Last-Event-ID resume.' }),
  },
  { additionalProperties: false, default: {} },
);

export type AdminConfig = Static<typeof AdminConfigSchema>;

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AdminApp } from './context.js';
import type { AdminConfig } from './config.js';
import { AdminErrorCodes, errorBody } from './errors.js';
import { errors } from './schemas.js';
import { canonicalIp } from '../net/ip.js';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/** How a Host header names an address: IPv6 in brackets, as written and canonical; IPv4-mapped IPv6 as its IPv4. */
function hostNames(host: string): string[] {
  const ip = canonicalIp(host);
  if (!ip) return [host];
  return ip.type === 'ipv6' ? [`[${host}]`, `[${ip.value}]`] : [host.includes(':') ? `[${host}]` : host, ip.value];
}

/** "Host" split into a lower-case name and a port (undefined when the header has none). */
function parseHost(header: string): { name: string; port: number | undefined } | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(header.trim());
  if (!m) return undefined;
  return { name: m[1]!.toLowerCase().replace(/\.$/, ''), port: m[2] === undefined ? undefined : Number(m[2]) };
}

/**
 * DNS-rebinding defence: a web page can make a browser send requests to 127.0.0.1 under the
 * attacker's own host name, and read the answers of the routes that need no token. Only Host
 * values that name this server are served: localhost, 127.0.0.1, [::1], the bind address, the
 * address the connection arrived on, with the listening port; plus admin.allowed_hosts.
 */
export function hostAllowed(config: AdminConfig, header: string | undefined, localPort: number | undefined, localAddress: string | undefined): boolean {
  // HTTP/1.0 clients may omit Host; a browser never does, so this leaves the defence intact.
  if (header === undefined || header === '') return true;
  const lower = header.trim().toLowerCase();
  if (config.allowed_hosts.some((h) => h.toLowerCase() === lower || h.toLowerCase() === parseHost(lower)?.name)) return true;
  const parsed = parseHost(header);
  if (!parsed) return false;
  // Behind app.inject() there is no socket port: the name still has to match.
  const port = parsed.port ?? 80;
  if (localPort !== undefined && port !== localPort) return false;
  const names = new Set(LOOPBACK_NAMES);
  // The bind address as configured, a wildcard included: admin-url then names it and the CLI uses it.
  if (config.host !== '') for (const n of hostNames(config.host.toLowerCase())) names.add(n);
  if (localAddress) for (const n of hostNames(localAddress.toLowerCase())) names.add(n);
  return names.has(parsed.name);
}

/** Refuse requests whose Host names another server, before any other hook runs. */
export function installHostCheck(app: AdminApp, config: AdminConfig): void {
  // Every route can answer 421, and every guarded one 429 (admin.auth_failure_limit): say so in its contract.
  app.addHook('onRoute', (route) => {
    const schema = route.schema as { response?: Record<string, unknown>; hide?: boolean } | undefined;
    if (!schema?.response) return;
    Object.assign(schema.response, errors(421), route.config?.public === true ? {} : errors(429));
  });
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    const socket = request.raw.socket as { localPort?: number; localAddress?: string } | undefined;
    if (hostAllowed(config, request.headers.host, socket?.localPort, socket?.localAddress)) return done();
    const shown = JSON.stringify(String(request.headers.host).slice(0, 100));
    void reply
      .code(421)
      .headers({ 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'; frame-ancestors 'none'", 'x-content-type-options': 'nosniff', connection: 'close' })
      .send(
        errorBody(
          421,
          AdminErrorCodes.HOST_NOT_ALLOWED,
          `Host ${shown} does not name this admin API: use http://127.0.0.1:${socket?.localPort ?? config.port} (or localhost), or add the name to admin.allowed_hosts`,
        ),
      );
  });
}

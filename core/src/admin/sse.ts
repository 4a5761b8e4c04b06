import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AdminConfig } from './config.js';
import { AdminErrorCodes, ApiError } from './errors.js';
import { limitKey } from './identity.js';

/** One open server-sent-events stream: write frames to it; `closed` once the client left or was dropped. */
export interface SseStream {
  send(chunk: string): void;
  /** Runs once when the stream ends, however it ends (client gone, dropped, server closing). */
  onClose(fn: () => void): void;
  readonly closed: boolean;
}

/**
 * The streams of one SSE route (/events, /feed): the caps (admin.sse_max_clients in all,
 * admin.sse_max_clients_per_token per identity), the headers, the heartbeat, and the drop of a
 * client that does not read (admin.sse_max_buffered_bytes). Each route keeps its own count.
 */
export class SseStreams {
  readonly #open = new Set<ServerResponse>();
  readonly #perIdentity = new Map<string, number>();

  constructor(
    private readonly path: string,
    private readonly config: AdminConfig,
    private readonly hooks: { onCount?: (open: number) => void; onDrop?: () => void } = {},
  ) {}

  get size(): number {
    return this.#open.size;
  }

  /** Admits the request or throws 503/429 (with retry-after) before anything is written; then hijacks the reply. */
  open(request: FastifyRequest, reply: FastifyReply): SseStream {
    const { config, path } = this;
    const who = limitKey(request);
    const mine = this.#perIdentity.get(who) ?? 0;
    if (this.#open.size >= config.sse_max_clients) {
      void reply.header('retry-after', '30');
      throw new ApiError(
        503,
        AdminErrorCodes.TOO_MANY_STREAMS,
        `${this.#open.size} ${path} streams are open, the most this server allows (admin.sse_max_clients); close one or retry later`,
      );
    }
    if (mine >= config.sse_max_clients_per_token) {
      void reply.header('retry-after', '30');
      throw new ApiError(
        429,
        AdminErrorCodes.TOO_MANY_STREAMS,
        `${mine} ${path} streams are already open with this token or session, the most allowed (admin.sse_max_clients_per_token); close one first`,
      );
    }
    const raw = reply.raw;
    // Headers set by hooks (helmet) are on the reply, which a hijacked response does not send.
    const headers: Record<string, string | string[] | number> = {};
    for (const [k, v] of Object.entries(reply.getHeaders())) if (v !== undefined) headers[k] = v as string | string[] | number;
    reply.hijack();
    raw.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    raw.socket?.setNoDelay(true);
    this.#open.add(raw);
    this.#perIdentity.set(who, mine + 1);
    this.hooks.onCount?.(this.#open.size);

    const closers: (() => void)[] = [];
    let closed = false;
    const cleanup = (): void => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      this.#open.delete(raw);
      const left = (this.#perIdentity.get(who) ?? 1) - 1;
      if (left <= 0) this.#perIdentity.delete(who);
      else this.#perIdentity.set(who, left);
      this.hooks.onCount?.(this.#open.size);
      for (const fn of closers) fn();
    };
    const send = (chunk: string): void => {
      if (closed) return;
      // write() returning false means the socket is past its high-water mark; the client is only
      // dropped once what waits for it exceeds the configured bound, so a short stall is fine.
      if (!raw.write(chunk) && raw.writableLength > config.sse_max_buffered_bytes) {
        request.log.warn({ buffered: raw.writableLength, limit: config.sse_max_buffered_bytes }, `${path} client does not read; disconnecting it`);
        this.hooks.onDrop?.();
        cleanup();
        raw.destroy();
      }
    };
    const heartbeat = setInterval(() => send(`: keep-alive ${new Date().toISOString()}\n\n`), config.sse_heartbeat_seconds * 1000);
    heartbeat.unref();
    raw.on('close', cleanup);
    raw.on('error', cleanup);
    send('retry: 3000\n\n');
    return {
      send,
      onClose: (fn) => (closed ? fn() : closers.push(fn)),
      get closed() {
        return closed;
      },
    };
  }

  /** Streams never end by themselves; the server ends them so app.close() does not wait for clients. */
  closeAll(): void {
    for (const raw of [...this.#open]) raw.end();
    this.#open.clear();
    this.#perIdentity.clear();
  }
}

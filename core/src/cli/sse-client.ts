import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { AdminClientError, type AdminLocation } from '../admin/client.js';

/**
 * Largest event we wait for. The server is trusted only so far: a stream that never ends its
 * event must not grow our memory without bound.
 */
export const MAX_SSE_EVENT_CHARS = 16 * 1024 * 1024;

/**
 * The events of one admin API stream (GET, server-sent events), as they arrive. Ends when the
 * server ends the stream or `signal` aborts; throws an AdminClientError when the server cannot be
 * reached or refuses (with its status and message).
 */
export async function* streamEvents(location: AdminLocation, route: string, signal: AbortSignal): AsyncGenerator<EventSourceMessage> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (location.token) headers.authorization = `Bearer ${location.token}`;
  let res: Response;
  try {
    res = await fetch(`${location.url}${route}`, { headers, signal });
  } catch (err) {
    if (signal.aborted) return;
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    throw new AdminClientError(
      `cannot reach the admin API at ${location.url} (${cause}; URL from ${location.urlSource}). Is Reactive Fabric running with admin.enabled: true? Pass --url or set FABRIC_ADMIN_URL.`,
      undefined,
      undefined,
    );
  }
  if (!res.ok || !res.body) {
    const text = await res.text().catch(() => '');
    let body: { code?: string; message?: string } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      // not JSON: the status says enough
    }
    const message =
      res.status === 401
        ? `the admin API at ${location.url} refused ${location.token === undefined ? 'a request without a token: pass --token or set FABRIC_ADMIN_TOKEN' : `the token from ${location.tokenSource}`}`
        : (body.message ?? `HTTP ${res.status}`);
    throw new AdminClientError(message, res.status, body.code);
  }
  const queue: EventSourceMessage[] = [];
  let pending = 0;
  const parser = createParser({
    onEvent: (e) => {
      pending = 0;
      queue.push(e);
    },
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      const text = decoder.decode(chunk, { stream: true });
      pending += text.length;
      if (pending > MAX_SSE_EVENT_CHARS) throw new AdminClientError(`the admin API at ${location.url} sent an event larger than ${MAX_SSE_EVENT_CHARS} characters`, 200, undefined);
      parser.feed(text);
      while (queue.length > 0) yield queue.shift()!;
    }
  } catch (err) {
    if (signal.aborted) return;
    if (err instanceof AdminClientError) throw err;
    // The connection dropped mid-stream (the instance stopped or the network went away).
    return;
  }
}

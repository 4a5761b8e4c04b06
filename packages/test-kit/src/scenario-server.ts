import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the scenario server answers every request, whatever its path. */
export type Scenario = { kind: 'hang' } | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string };

export interface ScenarioServer {
  /** e.g. "http://127.0.0.1:43121" (no trailing slash). */
  url: string;
  /** Requests received, for asserting the plugin really talked to it. */
  readonly requests: Array<{ method: string; url: string }>;
  close(): Promise<void>;
}

/**
 * A local HTTP server that misbehaves on purpose: it never answers ("hang", to test abort and
 * timeout handling) or answers every request with one status (401, 429, 500…).
 */
export async function startScenarioServer(scenario: Scenario): Promise<ScenarioServer> {
  const requests: Array<{ method: string; url: string }> = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '/' });
    req.resume();
    if (scenario.kind === 'hang') return;
    res.writeHead(scenario.status, { 'content-type': 'application/json', ...scenario.headers });
    res.end(scenario.body ?? JSON.stringify({ error: `scenario ${scenario.status}` }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A base URL on 127.0.0.1 where nothing listens (connection refused). */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

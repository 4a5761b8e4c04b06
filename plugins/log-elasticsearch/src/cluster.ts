import { ErrorCodes, type HttpClient, PluginError } from '@reactive-fabric/core';

export type Flavour = 'elasticsearch' | 'opensearch';

export interface ClusterInfo {
  flavour: Flavour;
  version: string;
  /** Point in time exists: ES 7.10+, OpenSearch 2.4+. */
  pit: boolean;
  /** ES 8+ refuses to sort on _id (indices.id_field_data.enabled defaults to false). */
  idSortAllowed: boolean;
}

interface RootInfo {
  version?: { number?: string; distribution?: string };
}

/** What a configured flavour implies when GET / is not asked (or not allowed). */
export function assumedInfo(flavour: Flavour): ClusterInfo {
  return flavour === 'opensearch' ? { flavour, version: 'unknown', pit: true, idSortAllowed: true } : { flavour, version: 'unknown', pit: true, idSortAllowed: false };
}

export function infoFromRoot(root: RootInfo, configured: Flavour | 'auto'): ClusterInfo {
  const number = root.version?.number;
  if (typeof number !== 'string') throw new PluginError(ErrorCodes.BAD_RESPONSE, 'GET / answered without version.number: is this an Elasticsearch or OpenSearch endpoint?');
  const detected: Flavour = root.version?.distribution === 'opensearch' ? 'opensearch' : 'elasticsearch';
  const flavour = configured === 'auto' ? detected : configured;
  const [major = 0, minor = 0] = number.split('.').map((n) => Number.parseInt(n, 10));
  const atLeast = (m: number, n: number) => major > m || (major === m && minor >= n);
  return flavour === 'opensearch'
    ? { flavour, version: number, pit: atLeast(2, 4), idSortAllowed: true }
    : { flavour, version: number, pit: atLeast(7, 10), idSortAllowed: major < 8 };
}

export async function readClusterInfo(http: HttpClient, configured: Flavour | 'auto', signal: AbortSignal): Promise<ClusterInfo> {
  const { body } = await http.json<RootInfo>('GET', '/', { signal });
  if (body === null || typeof body !== 'object') throw new PluginError(ErrorCodes.BAD_RESPONSE, 'GET / answered JSON that is not an object');
  return infoFromRoot(body, configured);
}

/** The Elasticsearch/OpenSearch error reason (`error.root_cause[0].reason` or `error.reason`). */
export function esReason(_status: number, text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { error?: unknown };
    const err = body.error;
    if (typeof err === 'string') return err;
    if (err && typeof err === 'object') {
      const e = err as { type?: string; reason?: string; root_cause?: Array<{ type?: string; reason?: string }> };
      const root = e.root_cause?.[0];
      const type = root?.type ?? e.type;
      const reason = root?.reason ?? e.reason;
      if (reason) return `${type ? `${type}: ` : ''}${reason}`.slice(0, 400);
    }
  } catch {
    // Not JSON (OpenSearch security answers a plain "Unauthorized"): the caller shows a snippet.
  }
  return undefined;
}

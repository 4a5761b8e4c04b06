import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MispFake, MISP_FAKE_API_KEY } from '@reactive-fabric/test-kit/fakes';
import { type EnricherInstance, isPluginError } from '@reactive-fabric/core';
import plugin from '../src/index.js';
import { configErrors, instantiate, type LogLine, signal } from '../../../test/support/threat-intel-plugins.js';
import { type SelfSignedCert, selfSignedCert } from '../../../test/support/tls.js';

// A self-hosted MISP behind HTTPS with a certificate of its own (no public CA signed it).
let server: SelfSignedCert;
let client: SelfSignedCert;
let fake: MispFake;
const instances: EnricherInstance[] = [];
beforeAll(() => {
  server = selfSignedCert('misp.internal');
  client = selfSignedCert('fabric-client');
});
afterAll(() => {
  server.remove();
  client.remove();
});
afterEach(async () => {
  for (const i of instances.splice(0)) await i.stop?.();
  await fake?.stop();
});

async function misp(tls: Record<string, unknown> | undefined, logs: LogLine[] = []): Promise<EnricherInstance> {
  const inst = await instantiate(plugin, { api_key: MISP_FAKE_API_KEY, base_url: fake.url, ...(tls ? { tls } : {}) }, logs);
  instances.push(inst);
  return inst;
}
const lookup = (inst: EnricherInstance) => inst.lookup([{ type: 'ipv4', value: '198.51.100.66' }], { signal: signal() });

describe('MISP plugin: TLS options', () => {
  it('refuses a certificate no trusted CA signed, saying which setting fixes it', async () => {
    fake = new MispFake({ tls: { cert: server.cert, key: server.key } });
    await fake.start();
    expect(fake.url).toMatch(/^https:/);
    const err = await lookup(await misp(undefined)).catch((e: unknown) => e);
    expect(isPluginError(err) && err.code).toBe('BAD_CONFIG');
    expect((err as Error).message).toMatch(/MISP: POST \/attributes\/restSearch: TLS verification failed \(\w+\); set tls\.ca_file .* or tls\.verify: false/);
    expect((err as Error).message).not.toContain(MISP_FAKE_API_KEY);
    expect(fake.count()).toBe(0);
  });

  it('trusts the server with tls.ca_file', async () => {
    fake = new MispFake({ tls: { cert: server.cert, key: server.key } });
    await fake.start();
    const logs: LogLine[] = [];
    const inst = await misp({ ca_file: server.certFile }, logs);
    expect((await lookup(inst)).map((v) => v.status)).toEqual(['malicious']);
    expect(inst.describe?.()).toMatchObject({ tls_verify: true, tls_ca_file: server.certFile });
    expect(logs.filter((l) => l.level === 'warn')).toEqual([]);
  });

  it('with tls.verify: false accepts any certificate and warns once', async () => {
    fake = new MispFake({ tls: { cert: server.cert, key: server.key } });
    await fake.start();
    const logs: LogLine[] = [];
    const inst = await misp({ verify: false }, logs);
    expect((await lookup(inst)).map((v) => v.status)).toEqual(['malicious']);
    await lookup(inst);
    await inst.healthCheck?.(signal());
    const warnings = logs.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toMatch(/tls\.verify is false/);
  });

  it('presents a client certificate when MISP requires one (cert_file and key_file)', async () => {
    fake = new MispFake({ tls: { cert: server.cert, key: server.key, clientCa: client.cert } });
    await fake.start();
    const without = await lookup(await misp({ ca_file: server.certFile })).catch((e: unknown) => e);
    expect(isPluginError(without)).toBe(true);
    expect(fake.count()).toBe(0);
    const inst = await misp({ ca_file: server.certFile, cert_file: client.certFile, key_file: client.keyFile });
    expect((await lookup(inst)).map((v) => v.status)).toEqual(['malicious']);
  });

  it('refuses unreadable files and a certificate without its key, naming the field', async () => {
    fake = new MispFake();
    await fake.start();
    const missing = await misp({ ca_file: '/nonexistent/ca.pem' }).catch((e: unknown) => e);
    expect(isPluginError(missing) && missing.code).toBe('BAD_CONFIG');
    expect((missing as Error).message).toMatch(/tls\.ca_file "\/nonexistent\/ca\.pem" cannot be read \(ENOENT\)/);
    const half = await misp({ cert_file: client.certFile }).catch((e: unknown) => e);
    expect((half as Error).message).toMatch(/tls\.cert_file and tls\.key_file go together/);
    expect(configErrors(plugin, { api_key: 'k', base_url: 'https://misp.internal', tls: { verify: 'no' } }).map((e) => e.path)).toEqual(['/tls/verify']);
    expect(configErrors(plugin, { api_key: 'k', base_url: 'https://misp.internal', tls: { reject_unauthorized: false } }).length).toBeGreaterThan(0);
  });
});

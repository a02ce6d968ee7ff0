// One OCI client per registry, configured from exporters.registries (credentials, CA, plain HTTP).
import { readFileSync } from 'node:fs';
import type { Config } from '../../config.js';
import { OciClient } from './client.js';

export function registryClients(exporters: Config['exporters']): (registry: string) => OciClient {
  const clients = new Map<string, OciClient>();
  return (registry) => {
    let client = clients.get(registry);
    if (!client) {
      const r = exporters.registries[registry];
      client = new OciClient(registry, {
        plainHttp: r?.plainHttp ?? false,
        ca: r?.caFile ? readFileSync(r.caFile, 'utf8') : undefined,
        username: r?.username || undefined,
        password: r?.passwordFile ? readFileSync(r.passwordFile, 'utf8').trimEnd() : undefined,
        timeoutMs: exporters.ociTimeoutSeconds * 1000,
        maxBlobBytes: exporters.ociMaxModuleBytes,
      });
      clients.set(registry, client);
    }
    return client;
  };
}

// The exporter RPCs: thin translations onto ExporterManager (the registry implements it).
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ExporterManager } from '../../exporters/host/management.js';
import { exporterStatus, type ApiExporterStatus } from '../status.js';
import { apiError } from '../status-codes.js';

export interface LoadExporterRequest { name: string; wasm: Buffer; signature: Buffer; shadow: boolean }
export interface NameRequest { name: string }

export function exporterHandlers(manager: ExporterManager | undefined) {
  const need = (): ExporterManager => {
    if (!manager) throw apiError(GrpcStatus.UNIMPLEMENTED, 'this collector cannot manage exporters at run time (no exporter manager)');
    return manager;
  };
  return {
    list: async (): Promise<{ exporters: ApiExporterStatus[] }> => ({ exporters: need().describe().map(exporterStatus) }),
    load: async (req: LoadExporterRequest): Promise<ApiExporterStatus> => {
      const m = need();
      if (req.wasm.length === 0) throw apiError(GrpcStatus.INVALID_ARGUMENT, 'wasm is empty');
      return exporterStatus(await m.install(req.name, req.wasm, {
        ...(req.signature.length > 0 && { signature: req.signature }),
        shadow: req.shadow,
        source: 'api',
      }));
    },
    unload: async (req: NameRequest): Promise<Record<string, never>> => {
      await need().unload(req.name);
      return {};
    },
    promote: async (req: NameRequest): Promise<ApiExporterStatus> => exporterStatus(await need().promote(req.name)),
    abort: async (req: NameRequest): Promise<ApiExporterStatus> => exporterStatus(await need().abort(req.name)),
  };
}

// Calls that send a request's bytes as they are, bypassing the client's encoder: for oversized,
// malformed or fuzzed requests.
import { type Client, Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';

const identity = (b: Buffer) => b;

/** The status a unary or server-streaming method answers `bytes` with (OK = 0), and its details. */
export function rawCall(client: Client, path: string, bytes: Buffer, opts: { stream?: boolean; metadata?: Metadata; deadlineMs?: number } = {}):
  Promise<{ code: number; details: string }> {
  const metadata = opts.metadata ?? new Metadata();
  const options = { deadline: Date.now() + (opts.deadlineMs ?? 10_000) };
  return new Promise((resolve) => {
    if (!opts.stream) {
      client.makeUnaryRequest(path, identity, identity, bytes, metadata, options, (err: ServiceError | null) =>
        resolve(err ? { code: err.code, details: err.details } : { code: GrpcStatus.OK, details: '' }));
      return;
    }
    const call = client.makeServerStreamRequest(path, identity, identity, bytes, metadata, options);
    call.on('data', () => { // a stream that answers has accepted the request
      resolve({ code: GrpcStatus.OK, details: '' });
      call.cancel();
    });
    call.on('error', (err: ServiceError) => resolve({ code: err.code, details: err.details }));
    call.on('status', (s) => { if (s.code === GrpcStatus.OK) resolve({ code: GrpcStatus.OK, details: '' }); });
  });
}

/** A LoadExporterRequest with `wasmBytes` zero bytes of module, encoded by hand (field 2, bytes). */
export function loadExporterBytes(wasmBytes: number): Buffer {
  const varint: number[] = [];
  for (let n = wasmBytes; ; n = Math.floor(n / 128)) {
    if (n < 128) {
      varint.push(n);
      break;
    }
    varint.push((n % 128) | 128);
  }
  return Buffer.concat([Buffer.from([0x0a, 1, 0x78, 0x12, ...varint]), Buffer.alloc(wasmBytes)]);
}

// A Prometheus remote write 1.0 receiver for tests and the soak (bench/soak.mjs): decodes each
// request (snappy block + prometheus.WriteRequest, from the repo's remote.proto) and answers as
// `answer(requestNumber)` says. It keeps each request decoded (`keep`), and always the counts.
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import protobuf from 'protobufjs';
import snappy from 'snappy';

const PROTO = join(resolve(import.meta.dirname, '../..'), 'src/metrics/proto/remote.proto');
let writeRequest;

/** Snappy block + protobuf decoding, as a receiver does it. */
export function decodeWriteRequest(body) {
  writeRequest ??= protobuf.loadSync(PROTO).lookupType('prometheus.WriteRequest');
  const raw = snappy.uncompressSync(body, { asBuffer: true });
  return writeRequest.toObject(writeRequest.decode(raw), { longs: Number, arrays: true }).timeseries;
}

export async function startRemoteWriteReceiver(answer = () => ({ status: 200 }), { keep = true } = {}) {
  const received = [];
  /** Requests and samples by answered status code. */
  const counts = { requests: {}, samples: {} };
  let n = 0;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const timeseries = decodeWriteRequest(Buffer.concat(chunks));
      if (keep) received.push({ headers: req.headers, at: performance.now(), timeseries });
      const a = answer(++n);
      const samples = timeseries.reduce((s, t) => s + t.samples.length, 0);
      counts.requests[a.status] = (counts.requests[a.status] ?? 0) + 1;
      counts.samples[a.status] = (counts.samples[a.status] ?? 0) + samples;
      res.writeHead(a.status, a.headers).end(a.status >= 400 ? 'scripted failure' : '');
    });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/api/v1/write`,
    received,
    counts,
    close: () => {
      server.closeAllConnections();
      return new Promise((ok) => server.close(() => ok()));
    },
  };
}

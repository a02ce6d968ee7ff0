// grpc.health.v1.Health: SERVING for "" and the Collector service once the collector is ready.
import { status as GrpcStatus, type ServerWritableStream } from '@grpc/grpc-js';
import { COLLECTOR_SERVICE } from '../service-definitions.js';
import { apiError } from '../status-codes.js';

type ServingStatus = 'SERVING' | 'NOT_SERVING';
export interface HealthRequest { service: string }
export interface HealthReply { status: ServingStatus | 'SERVICE_UNKNOWN' }

const KNOWN = new Set(['', COLLECTOR_SERVICE]);

export function healthHandlers(ready: () => boolean, watchIntervalMs = 1000) {
  const current = (): ServingStatus => (ready() ? 'SERVING' : 'NOT_SERVING');
  return {
    check: async (req: HealthRequest): Promise<HealthReply> => {
      if (!KNOWN.has(req.service)) throw apiError(GrpcStatus.NOT_FOUND, `unknown service ${JSON.stringify(req.service)}`);
      return { status: current() };
    },
    /** Sends the status now and on every change, until the client goes away. */
    watch: (req: HealthRequest, call: ServerWritableStream<HealthRequest, HealthReply>): Promise<void> => new Promise((resolve) => {
      if (!KNOWN.has(req.service)) {
        call.write({ status: 'SERVICE_UNKNOWN' });
        return resolve();
      }
      let last = current();
      call.write({ status: last });
      const timer = setInterval(() => {
        const now = current();
        if (now !== last) call.write({ status: (last = now) });
      }, watchIntervalMs);
      const done = () => { clearInterval(timer); resolve(); };
      call.on('cancelled', done);
      call.on('close', done);
    }),
  };
}

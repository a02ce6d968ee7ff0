// prom-client's default metrics, one module each (node_modules/prom-client/lib/metrics), which the
// package does not type: each registers its metrics in `registry`.
declare module 'prom-client/lib/metrics/*.js' {
  import type { Registry } from 'prom-client';

  const register: (registry: Registry, config?: object) => void;
  export default register;
}

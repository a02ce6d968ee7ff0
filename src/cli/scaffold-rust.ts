// `bpfwasm exporters new --lang rust`: the exporter's source, the same exporter as the
// AssemblyScript and C scaffolds (exits by command name, a lifetime histogram) on the Rust SDK.
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package-root.js';

/** The crate root, `src/lib.rs`. */
export function rustSource(name: string, metric: string): string {
  return `//! ${name}: a bpfwasm exporter in Rust (ABI: ${join(PACKAGE_ROOT, 'exporters', 'ABI.md')}).
//! Counts process exits by command name and observes how long the processes lived.
#![no_std]

use bpfwasm::{comm_key, until_nul, Batch, Counter, Errno, Exporter, Histogram, Init, Metric, ProcessExit, SeriesCache};

const LIFETIME_BOUNDS: [f64; 6] = [0.001, 0.01, 0.1, 1.0, 10.0, 60.0];

struct Exits {
    exits: Metric<Counter>,
    lifetime: Metric<Histogram>,
    // Series by raw comm bytes, so a batch asks the host only for comms it has not seen.
    exit_ids: SeriesCache<Counter, 1024>,
    lifetime_ids: SeriesCache<Histogram, 1024>,
}

impl Exporter for Exits {
    fn init(init: &mut Init) -> Result<Self, Errno> {
        let exits = init.counter("${metric}_exits_total", "Processes that exited, by command name", "comm")?;
        let lifetime = init.histogram("${metric}_lifetime_seconds", "Lifetime of exited processes, by command name", "comm",
            &LIFETIME_BOUNDS)?;
        init.subscribe::<ProcessExit>()?;
        Ok(Exits { exits, lifetime, exit_ids: SeriesCache::new(), lifetime_ids: SeriesCache::new() })
    }

    fn on_batch(&mut self, batch: &Batch) -> Result<(), Errno> {
        let records = batch.records::<ProcessExit>().ok_or(Errno::EINVAL)?;
        let (exits, lifetime) = (self.exits, self.lifetime);
        for rec in records {
            let key = comm_key(&rec.hdr.comm, 0);
            let comm = until_nul(&rec.hdr.comm);
            self.exit_ids.get_or_insert_with(&key, || exits.series_ascii_fallback(&[comm])).add(1.0);
            self.lifetime_ids.get_or_insert_with(&key, || lifetime.series_ascii_fallback(&[comm]))
                .observe(rec.lifetime_ns as f64 / 1e9);
        }
        Ok(())
    }

    // The host is about to reuse idle series ids: drop every cached one.
    fn forget(&mut self) {
        self.exit_ids.clear();
        self.lifetime_ids.clear();
    }
}

bpfwasm::export!(Exits);
`;
}

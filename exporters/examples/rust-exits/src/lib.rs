//! Example exporter in Rust (exporters/sdk/rust): process exits by command name and outcome,
//! the exit code ("0", "3") or the killing signal's name ("SIGKILL"), and lifetimes.
#![no_std]

use bpfwasm::{
    comm_key, config, log, resolve, until_nul, Batch, Counter, Errno, Exporter, Histogram, Init, Level, Metric,
    ProcessExit, Resolve, SeriesCache,
};

const LIFETIME_BOUNDS: [f64; 7] = [0.001, 0.01, 0.1, 1.0, 10.0, 60.0, 600.0];

struct RustExits {
    exits: Metric<Counter>,
    lifetime: Metric<Histogram>,
    exit_ids: SeriesCache<Counter, 1024>,
    lifetime_ids: SeriesCache<Histogram, 1024>,
    /// Exits of processes that lived at least this long are not counted (setting `maxLifetimeMs`).
    max_lifetime_ns: u64,
}

/// The setting `maxLifetimeMs` (default: no limit), a whole number of milliseconds.
fn max_lifetime_ns() -> Result<u64, Errno> {
    let mut buf = [0u8; 32];
    let ms = match config("maxLifetimeMs", &mut buf)? {
        None => return Ok(u64::MAX),
        Some(v) => core::str::from_utf8(v).ok().and_then(|s| s.parse::<u64>().ok()),
    };
    match ms {
        Some(ms) if ms > 0 && ms <= 86_400_000 => Ok(ms * 1_000_000),
        _ => {
            log(Level::Error, "maxLifetimeMs must be a whole number of milliseconds in 1..86400000");
            Err(Errno::EINVAL)
        }
    }
}

/// The outcome label: the exit code in decimal, or the signal's name (its number if unnamed).
fn outcome<'a>(rec: &ProcessExit, out: &'a mut [u8; 32]) -> &'a [u8] {
    if rec.exit_signal != 0 {
        if let Ok(Some(name)) = resolve(Resolve::Signal, rec.exit_signal as u64, out) {
            let n = name.len();
            return &out[..n];
        }
    }
    let mut v = if rec.exit_signal != 0 { rec.exit_signal } else { rec.exit_code };
    let mut n = 0;
    let mut digits = [0u8; 10];
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for i in 0..n {
        out[i] = digits[n - 1 - i];
    }
    &out[..n]
}

impl Exporter for RustExits {
    fn init(init: &mut Init) -> Result<Self, Errno> {
        let max_lifetime_ns = max_lifetime_ns()?;
        let exporter = RustExits {
            exits: init.counter("bpfwasm_example_rust_exits_total", "Process exits by command name and exit code or signal", "comm,outcome")?,
            lifetime: init.histogram("bpfwasm_example_rust_lifetime_seconds", "Lifetime of exited processes, by command name", "comm", &LIFETIME_BOUNDS)?,
            exit_ids: SeriesCache::new(),
            lifetime_ids: SeriesCache::new(),
            max_lifetime_ns,
        };
        init.subscribe::<ProcessExit>()?;
        bpfwasm::log!(Level::Info, "{{\"event\":\"rust_exits_started\",\"max_lifetime_ns\":{}}}", max_lifetime_ns);
        Ok(exporter)
    }

    fn on_batch(&mut self, batch: &Batch) -> Result<(), Errno> {
        let records = batch.records::<ProcessExit>().ok_or(Errno::EINVAL)?;
        for rec in records.iter().filter(|r| r.lifetime_ns < self.max_lifetime_ns) {
            let comm = until_nul(&rec.hdr.comm);
            // The outcome in the key's third word: the code, or the signal with bit 32 set.
            let how = if rec.exit_signal != 0 { 1 << 32 | rec.exit_signal as u64 } else { rec.exit_code as u64 };
            let exits = self.exits;
            let exit = self.exit_ids.get_or_insert_with(&comm_key(&rec.hdr.comm, how), || {
                let mut buf = [0u8; 32];
                exits.series_ascii_fallback(&[comm, outcome(rec, &mut buf)])
            });
            exit.add(1.0);
            let lifetime = self.lifetime;
            let life = self.lifetime_ids.get_or_insert_with(&comm_key(&rec.hdr.comm, 0), || lifetime.series_ascii_fallback(&[comm]));
            life.observe(rec.lifetime_ns as f64 / 1e9);
        }
        Ok(())
    }

    fn forget(&mut self) {
        self.exit_ids.clear();
        self.lifetime_ids.clear();
    }
}

bpfwasm::export!(RustExits);

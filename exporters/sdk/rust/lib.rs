//! bpfwasm exporter SDK for Rust (ABI v1, see exporters/ABI.md): `no_std`, no allocator, no
//! crates from a registry; builds with Debian 12's `rustc` 1.63 and `libstd-rust-dev-wasm32`.
//!
//! An exporter is a type implementing [`Exporter`], exported once with [`export!`]:
//! [`Exporter::init`] declares metrics and subscribes through the [`Init`] it is given (so
//! neither can happen later), [`Exporter::on_batch`] reads records in place
//! ([`Batch::records`]) and queues updates on typed series ([`Series`]), which the SDK sends
//! with one host call after the batch. A panic logs its message at error level and traps.
//! README.md beside this file has the build line and examples, all of them tested.
#![no_std]

mod abi;
mod cache;
pub mod events;

pub use abi::{kind, op, Errno, Level, Resolve, ABI_VERSION};
pub use cache::{comm_key, Key, SeriesCache};
pub use events::*;

use core::fmt::{self, Write};
use core::marker::PhantomData;

// ---- host imports (module "bpfwasm"); pointers are offsets into this module's memory ----

mod host {
    #[link(wasm_import_module = "bpfwasm")]
    extern "C" {
        pub(crate) fn metric(kind: i32, name: *const u8, name_len: u32, help: *const u8, help_len: u32, labels: *const u8,
            labels_len: u32, buckets: *const f64, buckets_count: u32) -> i32;
        pub(crate) fn subscribe(record_type: u32) -> i32;
        pub(crate) fn series(metric: i32, values: *const super::LabelRef, count: u32) -> i32;
        pub(crate) fn update(ops: *const super::Update, count: u32) -> i32;
        pub(crate) fn log(level: i32, msg: *const u8, len: u32);
        pub(crate) fn resolve(kind: i32, lo: u32, hi: u32, out: *mut u8, cap: u32) -> i32;
        pub(crate) fn config(key: *const u8, key_len: u32, out: *mut u8, cap: u32) -> i32;
    }
}

/// A label value as `series` takes it: `{u32 ptr; u32 len}`.
#[repr(C)]
#[derive(Clone, Copy)]
struct LabelRef {
    ptr: u32,
    len: u32,
}

/// One `update` operation: `{u32 series_id; u32 op; f64 value}`, 16 bytes.
#[repr(C)]
#[derive(Clone, Copy)]
struct Update {
    series: u32,
    op: u32,
    value: f64,
}

// ---- metric kinds, metrics and series ----

mod sealed {
    pub trait Sealed {}
}

/// The kind of a metric: [`Counter`], [`Gauge`] or [`Histogram`].
pub trait Kind: sealed::Sealed {
    /// The number `metric` takes.
    const KIND: i32;
}

/// Marks a counter: its series only [`add`](Series::add) values ≥ 0.
pub struct Counter;
/// Marks a gauge: its series [`set`](Series::set) and [`add`](Series::add).
pub struct Gauge;
/// Marks a histogram: its series [`observe`](Series::observe).
pub struct Histogram;

impl sealed::Sealed for Counter {}
impl sealed::Sealed for Gauge {}
impl sealed::Sealed for Histogram {}
impl Kind for Counter {
    const KIND: i32 = kind::COUNTER;
}
impl Kind for Gauge {
    const KIND: i32 = kind::GAUGE;
}
impl Kind for Histogram {
    const KIND: i32 = kind::HISTOGRAM;
}

/// A declared metric of kind `K`, from [`Init`].
pub struct Metric<K> {
    id: i32,
    kind: PhantomData<K>,
}

impl<K> Clone for Metric<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Metric<K> {}

/// Most label values one series may have here.
pub const MAX_LABELS: usize = 16;

impl<K: Kind> Metric<K> {
    /// The host's id of the metric.
    pub fn id(self) -> i32 {
        self.id
    }

    /// Interns a label set, one value per declared label in the declared order, into a series.
    /// A refused one (more than [`MAX_LABELS`] values, [`Errno::ELIMIT`], [`Errno::EUTF8`]…) is
    /// returned too: cache it like any other, updates on it are skipped. A host call: cache
    /// the result ([`SeriesCache`]) and call it only on a miss.
    pub fn series(self, values: &[&[u8]]) -> Series<K> {
        if values.len() > MAX_LABELS {
            return Series::refused(Errno::EINVAL);
        }
        let mut refs = [LabelRef { ptr: 0, len: 0 }; MAX_LABELS];
        for (r, v) in refs.iter_mut().zip(values) {
            *r = LabelRef { ptr: v.as_ptr() as u32, len: v.len() as u32 };
        }
        Series::from_raw(unsafe { host::series(self.id, refs.as_ptr(), values.len() as u32) })
    }

    /// [`series`](Self::series), and when the host refuses a value as label text
    /// ([`Errno::EUTF8`]: not UTF-8, or a control character such as NUL or CR) once more with
    /// every byte outside printable ASCII as `?`, so the event still counts. Values of more
    /// than 1024 bytes in all keep the refusal.
    pub fn series_ascii_fallback(self, values: &[&[u8]]) -> Series<K> {
        let first = self.series(values);
        if first.error() != Some(Errno::EUTF8) || values.iter().map(|v| v.len()).sum::<usize>() > 1024 {
            return first;
        }
        let mut bytes = [0u8; 1024];
        let mut copies: [&[u8]; MAX_LABELS] = [&[]; MAX_LABELS];
        let mut rest: &mut [u8] = &mut bytes;
        for (copy, v) in copies.iter_mut().zip(values) {
            let (head, tail) = core::mem::take(&mut rest).split_at_mut(v.len());
            for (d, &b) in head.iter_mut().zip(v.iter()) {
                *d = if (0x20..0x7f).contains(&b) { b } else { b'?' };
            }
            *copy = head;
            rest = tail;
        }
        self.series(&copies[..values.len()])
    }
}

/// A series id of a metric of kind `K`, or the host's refusal of it. Updates are queued and
/// sent after the batch; on a refused series they do nothing (the host counted the refusal).
pub struct Series<K> {
    id: i32,
    kind: PhantomData<K>,
}

impl<K> Clone for Series<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Series<K> {}

impl<K> Series<K> {
    fn refused(e: Errno) -> Self {
        Self::from_raw(e.0)
    }

    /// From what `series` answered: an id ≥ 0 or a negative error code.
    pub fn from_raw(id: i32) -> Self {
        Series { id, kind: PhantomData }
    }

    /// The raw answer: an id ≥ 0 or a negative error code.
    pub fn raw(self) -> i32 {
        self.id
    }

    /// The series id, or why the host refused it.
    pub fn id(self) -> Result<u32, Errno> {
        if self.id < 0 { Err(Errno(self.id)) } else { Ok(self.id as u32) }
    }

    /// Why the host refused the series, `None` when it is usable.
    pub fn error(self) -> Option<Errno> {
        self.id().err()
    }
}

impl Series<Counter> {
    /// Adds a finite value ≥ 0.
    pub fn add(self, value: f64) {
        queue(self.id, op::ADD, value);
    }
}

impl Series<Gauge> {
    /// Sets the gauge.
    pub fn set(self, value: f64) {
        queue(self.id, op::SET, value);
    }

    /// Adds to the gauge (negative to subtract).
    pub fn add(self, value: f64) {
        queue(self.id, op::ADD, value);
    }
}

impl Series<Histogram> {
    /// One observation.
    pub fn observe(self, value: f64) {
        queue(self.id, op::OBSERVE, value);
    }

    /// Adds `count` observations to bucket `index` (0-based among the declared bounds; their
    /// number is +Inf) without touching the sum: for pre-aggregated counts ([`slot_bucket`]).
    pub fn observe_bucket(self, index: u32, count: f64) {
        queue(self.id, op::BUCKET_ADD | index << 8, count);
    }

    /// Adds to the sum: the other half of [`observe_bucket`](Self::observe_bucket).
    pub fn add_sum(self, value: f64) {
        queue(self.id, op::SUM_ADD, value);
    }
}

// ---- the update queue: one `update` call per batch ----

const QUEUE_CAPACITY: usize = 512;
static mut QUEUE: [Update; QUEUE_CAPACITY] = [Update { series: 0, op: 0, value: 0.0 }; QUEUE_CAPACITY];
static mut QUEUED: usize = 0;

// The module is single-threaded and no reference to QUEUE or QUEUED ever escapes these two.
fn queue(series: i32, op: u32, value: f64) {
    if series < 0 {
        return;
    }
    unsafe {
        QUEUE[QUEUED] = Update { series: series as u32, op, value };
        QUEUED += 1;
        if QUEUED == QUEUE_CAPACITY {
            flush();
        }
    }
}

/// Sends the queued updates now; returns how many the host rejected. The SDK calls it after
/// `init` and every batch, so an exporter needs it only to learn that number.
pub fn flush() -> u32 {
    unsafe {
        let n = QUEUED;
        QUEUED = 0;
        if n == 0 {
            return 0;
        }
        let rejected = host::update(QUEUE.as_ptr(), n as u32);
        if rejected > 0 { rejected as u32 } else { 0 }
    }
}

// ---- init: declarations and subscriptions ----

/// What only `bpfwasm_init` may do: declare metrics and subscribe. Handed to [`Exporter::init`].
pub struct Init {
    private: (),
}

impl Init {
    fn declare<K: Kind>(&mut self, name: &str, help: &str, labels: &str, buckets: &[f64]) -> Result<Metric<K>, Errno> {
        let _ = self.private;
        let id = unsafe {
            host::metric(K::KIND, name.as_ptr(), name.len() as u32, help.as_ptr(), help.len() as u32, labels.as_ptr(),
                labels.len() as u32, buckets.as_ptr(), buckets.len() as u32)
        };
        if id < 0 {
            log_fmt(Level::Error, format_args!("metric {} refused by the host: {} ({})", name, Errno(id).name(), id));
            return Err(Errno(id));
        }
        Ok(Metric { id, kind: PhantomData })
    }

    /// Declares a counter (its name ends in `_total`); `labels` are the label names joined by
    /// `,` (`""` for none). A refusal is logged with its reason.
    pub fn counter(&mut self, name: &str, help: &str, labels: &str) -> Result<Metric<Counter>, Errno> {
        self.declare(name, help, labels, &[])
    }

    /// Declares a gauge.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &str) -> Result<Metric<Gauge>, Errno> {
        self.declare(name, help, labels, &[])
    }

    /// Declares a histogram with strictly increasing upper bounds, without +Inf (1 to 64).
    pub fn histogram(&mut self, name: &str, help: &str, labels: &str, buckets: &[f64]) -> Result<Metric<Histogram>, Errno> {
        self.declare(name, help, labels, buckets)
    }

    /// Asks for batches of record type `R` (e.g. `init.subscribe::<ProcessExit>()`).
    pub fn subscribe<R: Record>(&mut self) -> Result<(), Errno> {
        self.subscribe_type(R::TYPE)
    }

    /// Asks for batches of a record type by id ([`record_type`]).
    pub fn subscribe_type(&mut self, record_type: u32) -> Result<(), Errno> {
        let rc = unsafe { host::subscribe(record_type) };
        if rc < 0 {
            log_fmt(Level::Error, format_args!("subscribe({}) refused by the host: {} ({})", record_type, Errno(rc).name(), rc));
            return Err(Errno(rc));
        }
        Ok(())
    }
}

// ---- batches ----

/// One batch: `count` records of one type, back to back, read in place.
pub struct Batch<'a> {
    record_type: u32,
    bytes: &'a [u8],
    count: u32,
}

impl<'a> Batch<'a> {
    /// The record type id every record of the batch has.
    pub fn record_type(&self) -> u32 {
        self.record_type
    }

    /// How many records the batch holds.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The raw bytes, `count` records of the type's size.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The records as `R`, or `None` when the batch is of another type or not `count` whole
    /// records of `R`'s size.
    pub fn records<R: Record>(&self) -> Option<&'a [R]> {
        let whole = self.bytes.len() == self.count as usize * R::SIZE;
        let aligned = self.bytes.as_ptr() as usize % core::mem::align_of::<R>() == 0;
        if self.record_type != R::TYPE || !whole || !aligned {
            return None;
        }
        // Record: R is #[repr(C)] plain data of R::SIZE bytes, valid for any bytes.
        Some(unsafe { core::slice::from_raw_parts(self.bytes.as_ptr() as *const R, self.count as usize) })
    }
}

/// A bpfwasm exporter. Export it with [`export!`].
pub trait Exporter: Sized {
    /// Declares metrics and subscribes (only here: [`Init`] exists only during this call).
    /// An error refuses the module; the SDK logged why when the host refused a declaration.
    fn init(init: &mut Init) -> Result<Self, Errno>;

    /// Processes one batch. Updates queued here are sent after it returns; an error is
    /// counted as an exporter error (its updates are still sent).
    fn on_batch(&mut self, batch: &Batch) -> Result<(), Errno>;

    /// The host is about to expire idle series and hand their ids out again: clear every
    /// [`SeriesCache`] (and anything else holding series). Live series come back with one
    /// `series` call each.
    fn forget(&mut self);
}

// ---- logs, names and settings ----

/// Writes a log line (at most 4096 bytes are kept). A message that is a JSON object is
/// logged as structured fields.
pub fn log(level: Level, msg: &str) {
    log_bytes(level, msg.as_bytes());
}

/// Writes a log line of UTF-8 bytes.
pub fn log_bytes(level: Level, msg: &[u8]) {
    unsafe { host::log(level as i32, msg.as_ptr(), msg.len() as u32) }
}

/// Formats into a 1024-byte buffer on the stack (longer lines are cut) and logs it; see [`log!`].
pub fn log_fmt(level: Level, args: fmt::Arguments) {
    let mut line = Line { bytes: [0; 1024], len: 0 };
    let _ = line.write_fmt(args);
    log_bytes(level, &line.bytes[..line.len]);
}

/// `bpfwasm::log!(Level::Info, "{} of {}", a, b)`: [`log_fmt`] with `format_args!`, no allocation.
#[macro_export]
macro_rules! log {
    ($level:expr, $($arg:tt)*) => {
        $crate::log_fmt($level, ::core::format_args!($($arg)*))
    };
}

/// A fixed buffer that keeps what fits, cut at a UTF-8 boundary.
struct Line {
    bytes: [u8; 1024],
    len: usize,
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut n = s.len().min(self.bytes.len() - self.len);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Turns a `resolve`/`config` answer (the full length, or an error code) into the bytes written.
fn answer(n: i32, out: &[u8]) -> Result<Option<&[u8]>, Errno> {
    if n == Errno::ENOTFOUND.0 {
        Ok(None)
    } else if n < 0 {
        Err(Errno(n))
    } else if n as usize > out.len() {
        Err(Errno::ELIMIT)
    } else {
        Ok(Some(&out[..n as usize]))
    }
}

/// The host's name for `id` (a syscall number, an errno, a `dev_t`, a cgroup id…), written
/// into `out`: `Ok(None)` when it has none (use a fallback), `Err(ELIMIT)` when the name is
/// longer than `out` or the batch asked for too many unknown names (ask again later, don't
/// cache that). A host call: use it when creating a series, never per event.
pub fn resolve(kind: Resolve, id: u64, out: &mut [u8]) -> Result<Option<&[u8]>, Errno> {
    let n = unsafe { host::resolve(kind as i32, id as u32, (id >> 32) as u32, out.as_mut_ptr(), out.len() as u32) };
    answer(n, out)
}

/// This exporter's setting `key` (`exporters.settings.<name>.<key>`) written into `out`:
/// `Ok(None)` when unset, `Err(ELIMIT)` when longer than `out`.
pub fn config<'a>(key: &str, out: &'a mut [u8]) -> Result<Option<&'a [u8]>, Errno> {
    let n = unsafe { host::config(key.as_ptr(), key.len() as u32, out.as_mut_ptr(), out.len() as u32) };
    answer(n, out)
}

/// The bytes of a NUL-padded field (a `comm`) before its first NUL.
pub fn until_nul(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&b| b == 0) {
        Some(n) => &bytes[..n],
        None => bytes,
    }
}

// ---- log2 latency slots ----

/// Fills `out` with the bounds 2^lo … 2^hi ns in seconds and returns them: the buckets that take
/// the kernel's log2 latency slots exactly (slot s holds (2^(s-1), 2^s] ns). `out` needs
/// `hi - lo + 1` places; a shorter one keeps the first bounds that fit.
pub fn log2_seconds_buckets(lo: u32, hi: u32, out: &mut [f64]) -> &[f64] {
    let n = ((hi - lo + 1) as usize).min(out.len());
    for (i, b) in out[..n].iter_mut().enumerate() {
        *b = (1u64 << (lo + i as u32)) as f64 / 1e9;
    }
    &out[..n]
}

/// The bucket index of log2 slot `slot` among [`log2_seconds_buckets`]`(lo, hi)`'s bounds
/// (`hi - lo + 1` is +Inf).
pub fn slot_bucket(slot: u32, lo: u32, hi: u32) -> u32 {
    if slot <= lo {
        0
    } else if slot > hi {
        hi - lo + 1
    } else {
        slot - lo
    }
}

// ---- panics: logged, then a trap (the host counts it; during init it refuses the module) ----

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    log_fmt(Level::Error, format_args!("{}", info));
    core::arch::wasm32::unreachable()
}

// ---- the standard exports ----

/// Writes the module's exports for exporter type `T`: `bpfwasm_abi_version`,
/// `bpfwasm_batch_buffer`, `bpfwasm_init`, `bpfwasm_on_batch` and `bpfwasm_forget`.
/// Write it once, at the crate root: `bpfwasm::export!(MyExporter);`.
#[macro_export]
macro_rules! export {
    ($t:ty) => {
        static mut BPFWASM_EXPORTER: $crate::__export::Slot<$t> = $crate::__export::Slot::EMPTY;

        #[no_mangle]
        pub extern "C" fn bpfwasm_abi_version() -> i32 {
            $crate::ABI_VERSION
        }

        #[no_mangle]
        pub extern "C" fn bpfwasm_batch_buffer(min_bytes: u32) -> *mut u8 {
            $crate::__export::batch_buffer(min_bytes)
        }

        #[no_mangle]
        pub extern "C" fn bpfwasm_init() -> i32 {
            // Single-threaded module: these exports are the only users of the state.
            $crate::__export::init(unsafe { &mut *::core::ptr::addr_of_mut!(BPFWASM_EXPORTER) })
        }

        #[no_mangle]
        pub extern "C" fn bpfwasm_on_batch(record_type: u32, ptr: *const u8, len: u32, count: u32) -> i32 {
            let state = unsafe { &mut *::core::ptr::addr_of_mut!(BPFWASM_EXPORTER) };
            unsafe { $crate::__export::on_batch(state, record_type, ptr, len, count) }
        }

        #[no_mangle]
        pub extern "C" fn bpfwasm_forget(_ids: *const u32, _count: u32) {
            $crate::__export::forget(unsafe { &mut *::core::ptr::addr_of_mut!(BPFWASM_EXPORTER) })
        }
    };
}

/// What [`export!`] expands to calls; not part of the API.
#[doc(hidden)]
pub mod __export {
    use super::*;

    /// Bytes of the static batch buffer; a larger batch grows memory by whole pages.
    const BATCH_BYTES: usize = 65536;

    #[repr(C, align(8))]
    struct BatchBuffer([u8; BATCH_BYTES]);

    static mut BATCH: BatchBuffer = BatchBuffer([0; BATCH_BYTES]);

    /// Where [`export!`] keeps the exporter. Not an `Option`: its `None` would be a niche value
    /// somewhere inside `T` (a `bool` of a cache), which puts the whole state in the module's
    /// data section instead of zeroed memory, tens of KiB of a module's size.
    pub struct Slot<T> {
        value: core::mem::MaybeUninit<T>,
        ready: bool,
    }

    impl<T> Slot<T> {
        pub const EMPTY: Self = Slot { value: core::mem::MaybeUninit::uninit(), ready: false };

        fn get(&mut self) -> Option<&mut T> {
            // ready: value was written by init.
            if self.ready { Some(unsafe { self.value.assume_init_mut() }) } else { None }
        }
    }

    /// A non-zero return for an error (0 would read as success).
    fn code(e: Errno) -> i32 {
        if e.0 == 0 { 1 } else { e.0 }
    }

    pub fn batch_buffer(min_bytes: u32) -> *mut u8 {
        if min_bytes as usize <= BATCH_BYTES {
            return unsafe { core::ptr::addr_of_mut!(BATCH) as *mut u8 };
        }
        let pages = (min_bytes as usize + 65535) / 65536;
        let old = core::arch::wasm32::memory_grow(0, pages);
        if old == usize::MAX { core::ptr::null_mut() } else { (old * 65536) as *mut u8 }
    }

    pub fn init<T: Exporter>(state: &mut Slot<T>) -> i32 {
        let result = T::init(&mut Init { private: () });
        flush();
        match result {
            Ok(exporter) => {
                if state.ready {
                    unsafe { state.value.assume_init_drop() };
                }
                state.value.write(exporter);
                state.ready = true;
                0
            }
            Err(e) => code(e),
        }
    }

    /// Safety: `ptr`/`len` are the batch the host wrote into our batch buffer.
    pub unsafe fn on_batch<T: Exporter>(state: &mut Slot<T>, record_type: u32, ptr: *const u8, len: u32, count: u32) -> i32 {
        // Updates a trapped batch queued never land with this one.
        QUEUED = 0;
        let exporter = match state.get() {
            Some(e) => e,
            None => return code(Errno::ESTATE),
        };
        let bytes = if len == 0 { &[][..] } else { core::slice::from_raw_parts(ptr, len as usize) };
        let batch = Batch { record_type, bytes, count };
        let result = exporter.on_batch(&batch);
        flush();
        match result {
            Ok(()) => 0,
            Err(e) => code(e),
        }
    }

    pub fn forget<T: Exporter>(state: &mut Slot<T>) {
        if let Some(e) = state.get() {
            e.forget();
        }
    }
}

// A fixed-capacity open-addressing map from a key of three u64 words to a series: exact (keys
// are compared whole, a 16-byte comm is two words), no hashing of strings, no allocation.
// At 3/4 full it is cleared rather than grown: ids stay valid in the host (interning is
// idempotent), so a cleared entry costs one `series` call to refill.

use crate::{Kind, Series};
use core::marker::PhantomData;

/// A cache key: up to three u64 words of raw record fields (unused words 0).
pub type Key = [u64; 3];

/// The key of a 16-byte comm: its two words, and `extra` (e.g. a label index) as the third.
pub fn comm_key(comm: &[u8; 16], extra: u64) -> Key {
    let mut a = [0u8; 8];
    let mut b = [0u8; 8];
    a.copy_from_slice(&comm[..8]);
    b.copy_from_slice(&comm[8..]);
    [u64::from_le_bytes(a), u64::from_le_bytes(b), extra]
}

/// Series of kind `K` by [`Key`], `N` slots (a power of two). Make it a field of the exporter
/// and clear it in [`Exporter::forget`](crate::Exporter::forget).
pub struct SeriesCache<K, const N: usize> {
    keys: [Key; N],
    ids: [i32; N],
    used: [bool; N],
    size: usize,
    kind: PhantomData<K>,
}

impl<K: Kind, const N: usize> SeriesCache<K, N> {
    const POWER_OF_TWO: () = assert!(N.is_power_of_two() && N >= 8, "SeriesCache capacity must be a power of two >= 8");

    /// An empty cache.
    pub const fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::POWER_OF_TWO;
        SeriesCache { keys: [[0; 3]; N], ids: [0; N], used: [false; N], size: 0, kind: PhantomData }
    }

    fn slot(key: &Key) -> usize {
        let b = key[1].wrapping_mul(0xc2b2ae3d27d4eb4f);
        let mut h = key[0].wrapping_mul(0x9e3779b97f4a7c15) ^ b.rotate_left(31) ^ key[2].wrapping_mul(0x165667b19e3779f9);
        h ^= h >> 32;
        h as usize & (N - 1)
    }

    /// The cached series (which may be a refusal the host answered), or `None`.
    pub fn get(&self, key: &Key) -> Option<Series<K>> {
        let mut i = Self::slot(key);
        while self.used[i] {
            if self.keys[i] == *key {
                return Some(Series::from_raw(self.ids[i]));
            }
            i = (i + 1) & (N - 1);
        }
        None
    }

    /// Caches `series` for a key [`get`](Self::get) just missed; refusals too, which keeps
    /// refused label sets off the host.
    pub fn insert(&mut self, key: &Key, series: Series<K>) {
        if self.size >= N - N / 4 {
            self.clear();
        }
        let mut i = Self::slot(key);
        while self.used[i] {
            i = (i + 1) & (N - 1);
        }
        self.keys[i] = *key;
        self.ids[i] = series.raw();
        self.used[i] = true;
        self.size += 1;
    }

    /// The cached series, or the one `make` interns, cached.
    pub fn get_or_insert_with(&mut self, key: &Key, make: impl FnOnce() -> Series<K>) -> Series<K> {
        match self.get(key) {
            Some(s) => s,
            None => {
                let s = make();
                self.insert(key, s);
                s
            }
        }
    }

    /// Forgets every entry.
    pub fn clear(&mut self) {
        self.used = [false; N];
        self.size = 0;
    }
}

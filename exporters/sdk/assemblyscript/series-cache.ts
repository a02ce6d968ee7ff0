// A fixed-capacity open-addressing map from a key of up to three u64 words to a series id.
// Keys are compared in full, so a lookup is exact: a 16-byte comm is two words plus one word
// for a small label index, with no hashing of strings and no allocation per lookup.
// When the table is 3/4 full it is cleared rather than grown: ids stay valid in the host
// (interning is idempotent), so a cleared entry costs one `series` call to refill.

/** Every cache the module made, so `bpfwasm_forget` can clear them all. */
export const allCaches: SeriesCache[] = [];

export class SeriesCache {
  /** What `get` returns for a key not in the cache (error codes are -1..-7, ids are ≥ 0). */
  static readonly MISS: i32 = i32.MIN_VALUE;

  private readonly keys: StaticArray<u64>;
  private readonly ids: StaticArray<i32>;
  private readonly used: StaticArray<u8>;
  private readonly mask: u32;
  private readonly limit: u32;
  private size: u32 = 0;

  /** `capacity` is rounded up to a power of two. */
  constructor(capacity: u32 = 1024) {
    const cap: u32 = capacity < 8 ? 8 : <u32>1 << (32 - clz(capacity - 1));
    this.keys = new StaticArray<u64>(<i32>cap * 3);
    this.ids = new StaticArray<i32>(<i32>cap);
    this.used = new StaticArray<u8>(<i32>cap);
    this.mask = cap - 1;
    this.limit = cap - (cap >> 2);
    allCaches.push(this);
  }

  /** The cached id (which may be a negative error code the host answered), or MISS. */
  get(a: u64, b: u64, c: u64): i32 {
    let i = this.slot(a, b, c);
    while (unchecked(this.used[i])) {
      const k = i * 3;
      if (unchecked(this.keys[k]) == a && unchecked(this.keys[k + 1]) == b && unchecked(this.keys[k + 2]) == c) {
        return unchecked(this.ids[i]);
      }
      i = (i + 1) & this.mask;
    }
    return SeriesCache.MISS;
  }

  /** Caches `id` for a key that `get` just missed. Caching error codes too keeps refused series off the host. */
  set(a: u64, b: u64, c: u64, id: i32): void {
    if (this.size >= this.limit) this.clear();
    let i = this.slot(a, b, c);
    while (unchecked(this.used[i])) i = (i + 1) & this.mask;
    const k = i * 3;
    unchecked(this.keys[k] = a);
    unchecked(this.keys[k + 1] = b);
    unchecked(this.keys[k + 2] = c);
    unchecked(this.ids[i] = id);
    unchecked(this.used[i] = 1);
    this.size++;
  }

  clear(): void {
    memory.fill(changetype<usize>(this.used), 0, <usize>this.used.length);
    this.size = 0;
  }

  // @ts-ignore: decorator
  @inline private slot(a: u64, b: u64, c: u64): u32 {
    let h = a * 0x9e3779b97f4a7c15 ^ rotl<u64>(b * 0xc2b2ae3d27d4eb4f, 31) ^ c * 0x165667b19e3779f9;
    h ^= h >> 32;
    return <u32>h & this.mask;
  }
}

// 64-bit ids as Map keys: a number while exact (every id seen in practice), else a bigint.
// Keying by number keeps the hot-path Map lookup cheap; one normalisation keeps both kinds of
// caller (bigint from statSync, numbers from wasm) hitting the same entry.

export type IdKey = number | bigint;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const U64_MAX = (1n << 64n) - 1n;

/** The Map key for a u64 id, or undefined if `id` is not one (negative, fractional, too big). */
export function idKey(id: bigint | number): IdKey | undefined {
  if (typeof id === 'number') return Number.isSafeInteger(id) && id >= 0 ? id : undefined;
  if (id < 0n || id > U64_MAX) return undefined;
  return id <= MAX_SAFE ? Number(id) : id;
}

/** The id the ABI passes as two i32 halves (`lo`, `hi` as wasm hands them over, maybe negative). */
export function idFromHalves(lo: number, hi: number): IdKey {
  const high = hi >>> 0;
  const low = lo >>> 0;
  if (high < 0x200000) return high * 0x1_0000_0000 + low; // below 2^53: exact as a number
  return (BigInt(high) << 32n) | BigInt(low);
}

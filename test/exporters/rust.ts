// The Rust SDK's tests build with Debian 12's rustc (1.63, libstd-rust-dev-wasm32 from
// scripts/setup.sh --test), the oldest compiler the SDK promises, whatever rustc PATH finds first.
import { existsSync } from 'node:fs';

export const DEBIAN_RUSTC = '/usr/bin/rustc';

/** Points the builders (scripts/build-exporters.mjs) at Debian's rustc; fails if it is missing. */
export function useDebianRustc(): void {
  if (!existsSync(DEBIAN_RUSTC)) throw new Error(`${DEBIAN_RUSTC} missing: run scripts/setup.sh --test (rustc, libstd-rust-dev-wasm32)`);
  process.env.RUSTC = DEBIAN_RUSTC;
}

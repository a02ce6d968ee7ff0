// Signal number → name (kind 7 of the exporter ABI's `resolve` import).
import { constants } from 'node:os';

// Names that share a number with a better-known one; never chosen while the other exists.
const ALIASES = new Set(['SIGIOT', 'SIGPOLL', 'SIGUNUSED', 'SIGCLD']);

// Kernel SIGRTMIN is 32, but glibc reserves 32 and 33, so users know 34 as SIGRTMIN (`kill -l`).
const GLIBC_SIGRTMIN = 34;
const SIGRTMAX = 64;

/** Real-time signals named as bash's and procps' `kill -l` name them; 32/33 relative to 34. */
function realtimeName(sig: number): string {
  const mid = (GLIBC_SIGRTMIN + SIGRTMAX) >> 1; // 49: the last one named from SIGRTMIN
  if (sig === GLIBC_SIGRTMIN) return 'SIGRTMIN';
  if (sig === SIGRTMAX) return 'SIGRTMAX';
  if (sig < GLIBC_SIGRTMIN) return `SIGRTMIN-${GLIBC_SIGRTMIN - sig}`;
  return sig <= mid ? `SIGRTMIN+${sig - GLIBC_SIGRTMIN}` : `SIGRTMAX-${SIGRTMAX - sig}`;
}

function buildTable(): ReadonlyMap<number, string> {
  const table = new Map<number, string>();
  for (const [name, sig] of Object.entries(constants.signals) as [string, number][]) {
    const had = table.get(sig);
    if (had === undefined || (ALIASES.has(had) && !ALIASES.has(name))) table.set(sig, name);
  }
  for (let sig = 32; sig <= SIGRTMAX; sig++) if (!table.has(sig)) table.set(sig, realtimeName(sig));
  return table;
}

const BY_NUMBER = buildTable();

/** The signal table: number → canonical name (SIGABRT not SIGIOT, SIGIO not SIGPOLL). */
export const SIGNAL_NAMES: ReadonlyMap<number, string> = BY_NUMBER;

/** "SIGKILL" for 9, "SIGRTMIN+1" for 35; undefined for 0 and numbers above 64. */
export function signalName(sig: number): string | undefined {
  return BY_NUMBER.get(sig);
}

// errno number → name (kind 2 of the exporter ABI's `resolve` import).
// The table comes from the kernel's UAPI headers rather than node's os.constants.errno, which
// lacks about 50 Linux errnos (ENOKEY, ENOMEDIUM, EHWPOISON, ...). Where names alias one number
// the headers define the alias in terms of the canonical name, so the table holds the canonical
// one: EAGAIN (not EWOULDBLOCK), EDEADLK (not EDEADLOCK), EOPNOTSUPP (glibc's ENOTSUP is not a
// kernel name). It also names the kernel-internal errnos (512..530) a sys_exit tracepoint sees,
// e.g. ERESTARTSYS and ERESTART_RESTARTBLOCK for a syscall interrupted by a signal.
import { ERRNO_LINUX } from './generated/errno-linux.js';

const BY_NUMBER: ReadonlyMap<number, string> = new Map(ERRNO_LINUX);

/** Names a libc or node may use for a number the table names otherwise, mapped to the table's. */
export const ERRNO_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  EWOULDBLOCK: 'EAGAIN',
  EDEADLOCK: 'EDEADLK',
  ENOTSUP: 'EOPNOTSUPP',
});

/** "ENOENT" for 2. Takes the positive errno: negate a syscall's -errno return first. */
export function errnoName(errno: number): string | undefined {
  return BY_NUMBER.get(errno);
}

// The arguments of a process_exec record (ebpf/process/README.md): the kept ones as a list, a
// cut-off last one ending in "…", and whether any were lost, so a lost tail is never silent.
import { ProcessExecOffset, RECORDS } from './generated/events.js';

/** process_exec `flags` bits. */
export const EXEC_ARGS_LOST = 1;
export const EXEC_FILENAME_FULL = 2;

/** The marker of a lost tail, as execsnoop prints it. */
export const ELLIPSIS = '…';

const ARGS_BYTES = RECORDS.find((r) => r.name === 'process_exec')!.fields.find((f) => f.name === 'args')!.size;

export interface ExecArgs {
  /** The kept arguments, argv[0] first; one cut off by the field's size ends in "…". */
  args: string[];
  /** Arguments the process had that are not (wholly) in `args`. */
  lost: number;
}

/** Decodes the args of the process_exec record at `offset`; a hostile args_size is clamped to the field. */
export function execArgs(payload: Uint8Array, view: DataView, offset: number): ExecArgs {
  const argc = view.getUint32(offset + ProcessExecOffset.argc, true);
  const flags = view.getUint32(offset + ProcessExecOffset.flags, true);
  const used = Math.min(view.getUint32(offset + ProcessExecOffset.args_size, true), ARGS_BYTES);
  const start = offset + ProcessExecOffset.args;
  const args: string[] = [];
  let from = start;
  for (let at = start; at < start + used; at++) {
    if (payload[at] !== 0) continue;
    args.push(text(payload, from, at));
    from = at + 1;
  }
  const complete = args.length;
  if (from < start + used) args.push(text(payload, from, start + used) + ELLIPSIS);
  const lost = Math.max(argc - complete, flags & EXEC_ARGS_LOST ? 1 : 0);
  return { args, lost };
}

/** Arguments as one shell-quoted line, " …" at the end when some were lost. */
export function argsLine({ args, lost }: ExecArgs): string {
  const line = args.map(shellQuote).join(' ');
  const cut = args.at(-1)?.endsWith(ELLIPSIS) ?? false;
  return lost > 0 && !cut ? `${line} ${ELLIPSIS}`.trimStart() : line;
}

function shellQuote(arg: string): string {
  if (arg !== '' && /^[A-Za-z0-9_@%+=:,./…-]+$/.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

function text(payload: Uint8Array, from: number, to: number): string {
  return Buffer.from(payload.buffer, payload.byteOffset + from, to - from).toString('utf8');
}

// Buffers for big reads (the symbolizer's ELF symbol and string tables and kallsyms, MBs each for
// the length of one profile; the frame decoder's frames of up to 1 MiB) allocated as WebAssembly
// memory, which V8 maps and unmaps itself.
// A Buffer that big is malloc'd, and once glibc frees such a block it raises its mmap threshold
// to that size and keeps up to twice as much freed memory in its heap for good: 10 MiB of RSS
// over idle after a profile here (issue #17).
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';

const WASM_PAGE = 65536;
/** Below this a Buffer is malloc'd under glibc's default mmap threshold (128 KiB), where a free changes nothing. */
const SMALL = 64 * 1024;

/** `bytes` bytes, not zeroed when small. */
export function bigBuffer(bytes: number): Buffer {
  if (bytes <= SMALL) return Buffer.allocUnsafe(bytes);
  const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / WASM_PAGE) });
  return Buffer.from(memory.buffer, 0, bytes);
}

/** Reads `bytes` bytes at `position` of an open file into a big buffer; short only at the end of the file. */
export async function readAt(file: FileHandle, position: number, bytes: number): Promise<Buffer> {
  const buf = bigBuffer(bytes);
  let done = 0;
  while (done < bytes) {
    const { bytesRead } = await file.read(buf, done, bytes - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === bytes ? buf : buf.subarray(0, done);
}

/** A whole file of unknown size (procfs says 0), such as /proc/kallsyms, as latin1 text. */
export async function readLatin1(path: string): Promise<string> {
  const file = await open(path, 'r');
  try {
    const memory = new WebAssembly.Memory({ initial: 16 });
    let size = 0;
    for (;;) {
      if (memory.buffer.byteLength - size < WASM_PAGE) memory.grow(memory.buffer.byteLength / WASM_PAGE);
      const view = new Uint8Array(memory.buffer, size);
      const { bytesRead } = await file.read(view, 0, view.byteLength, null);
      if (bytesRead === 0) return Buffer.from(memory.buffer, 0, size).toString('latin1');
      size += bytesRead;
    }
  } finally {
    await file.close();
  }
}

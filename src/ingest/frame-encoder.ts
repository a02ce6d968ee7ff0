// Builds protocol frames: the helper's side of ebpf/PROTOCOL.md, for tests, replays and benchmarks.
import { FRAME_HEADER_SIZE, FRAME_MAGIC, PROTOCOL_VERSION } from './protocol.js';

export function encodeFrame(kind: number, payload: Uint8Array, seq: number, count = 0, recordType = 0): Buffer {
  const frame = Buffer.alloc(FRAME_HEADER_SIZE + payload.length);
  frame.writeUInt32LE(FRAME_MAGIC, 0);
  frame.writeUInt16LE(PROTOCOL_VERSION, 4);
  frame.writeUInt16LE(kind, 6);
  frame.writeUInt32LE(payload.length, 8);
  frame.writeUInt32LE(count, 12);
  frame.writeUInt16LE(recordType, 16);
  frame.writeUInt16LE(0, 18);
  frame.writeUInt32LE(seq >>> 0, 20);
  frame.set(payload, FRAME_HEADER_SIZE);
  return frame;
}

// Reads the function signatures of a module's imports and exports from its binary. The JS
// API lists import/export names and kinds but not their types (type reflection is not in
// Node 20), and a JS import silently coerces any signature, so without this a module that
// declared `update` with i64 arguments would load and fail on every batch instead of at load.
// Only called on bytes WebAssembly.compile accepted, so the structure is known to be valid.

export interface ModuleSignatures {
  /** Signature per imported function, keyed `module.name`. */
  readonly imports: ReadonlyMap<string, string>;
  /** Signature per exported function. */
  readonly exports: ReadonlyMap<string, string>;
}

const VALTYPE: Readonly<Record<number, string>> = {
  // biome-ignore lint/complexity/useSimpleNumberKeys: the WebAssembly spec writes value type codes in hex
  0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128', 0x70: 'funcref', 0x6f: 'externref',
};

const SECTION_TYPE = 1;
const SECTION_IMPORT = 2;
const SECTION_FUNCTION = 3;
const SECTION_EXPORT = 7;
const KIND_FUNC = 0;
const KIND_TABLE = 1;
const KIND_MEMORY = 2;
const KIND_GLOBAL = 3;
const KIND_TAG = 4;

class Reader {
  pos = 8; // after magic and version
  constructor(private readonly b: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.b.length;
  }

  byte(): number {
    const v = this.b[this.pos++];
    if (v === undefined) throw new Error('unexpected end of module');
    return v;
  }

  u32(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const v = this.byte();
      result += (v & 0x7f) * 2 ** shift;
      if ((v & 0x80) === 0) return result;
    }
    throw new Error('LEB128 too long');
  }

  name(): string {
    const len = this.u32();
    const s = new TextDecoder().decode(this.b.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }

  limits(): void {
    const flags = this.byte();
    this.u32();
    if (flags & 1) this.u32();
  }
}

export function readSignatures(bytes: Uint8Array): ModuleSignatures {
  const r = new Reader(bytes);
  const types: string[] = [];
  const funcTypes: number[] = []; // function index space: imports first, then definitions
  const imports = new Map<string, string>();
  const exportIndex = new Map<string, number>();
  while (!r.done) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    if (id === SECTION_TYPE) {
      for (let n = r.u32(); n > 0; n--) {
        r.byte(); // 0x60, func type
        const params = readValtypes(r);
        const results = readValtypes(r);
        types.push(`(${params.join(', ')}) -> ${results.length ? results.join(', ') : '()'}`);
      }
    } else if (id === SECTION_IMPORT) {
      for (let n = r.u32(); n > 0; n--) {
        const key = `${r.name()}.${r.name()}`;
        const kind = r.byte();
        if (kind === KIND_FUNC) {
          const t = r.u32();
          funcTypes.push(t);
          imports.set(key, types[t] ?? '?');
        } else if (kind === KIND_TABLE) {
          r.byte();
          r.limits();
        } else if (kind === KIND_MEMORY) {
          r.limits();
        } else if (kind === KIND_GLOBAL) {
          r.byte();
          r.byte();
        } else if (kind === KIND_TAG) {
          r.byte();
          r.u32();
        } else {
          throw new Error(`unknown import kind ${kind}`);
        }
      }
    } else if (id === SECTION_FUNCTION) {
      for (let n = r.u32(); n > 0; n--) funcTypes.push(r.u32());
    } else if (id === SECTION_EXPORT) {
      for (let n = r.u32(); n > 0; n--) {
        const name = r.name();
        const kind = r.byte();
        const index = r.u32();
        if (kind === KIND_FUNC) exportIndex.set(name, index);
      }
    }
    r.pos = end;
  }
  const exports = new Map<string, string>();
  for (const [name, index] of exportIndex) exports.set(name, types[funcTypes[index] ?? -1] ?? '?');
  return { imports, exports };
}

function readValtypes(r: Reader): string[] {
  const out: string[] = [];
  for (let n = r.u32(); n > 0; n--) {
    const t = r.byte();
    out.push(VALTYPE[t] ?? `0x${t.toString(16)}`);
  }
  return out;
}

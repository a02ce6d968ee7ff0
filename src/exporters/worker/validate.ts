// Checks a compiled module against ABI v1 before it is instantiated, so a mismatched module is
// refused with one clear message and never runs any of its code.
import { BpfwasmError } from '../../errors.js';
import { FUEL_MODULE } from './fuel.js';
import { EXPORT_MEMORY, FUNCTION_EXPORTS, IMPORTS, IMPORT_MODULE, OPTIONAL_FUNCTION_EXPORTS } from '../abi.js';
import { readSignatures } from './signatures.js';

export function validateModule(name: string, module: WebAssembly.Module, bytes: Uint8Array): void {
  const refuse = (why: string): never => {
    throw new BpfwasmError('EXPORTER_ABI', `${name}: ${why}`);
  };
  const signatures = readSignatures(bytes);

  for (const imp of WebAssembly.Module.imports(module)) {
    // Injected by the host (fuel.ts), which refuses modules importing from it themselves.
    if (imp.module === FUEL_MODULE) continue;
    const key = `${imp.module}.${imp.name}`;
    const expected = imp.module === IMPORT_MODULE && Object.hasOwn(IMPORTS, imp.name) ? IMPORTS[imp.name] : undefined;
    if (expected === undefined) refuse(`imports ${key}, which ABI v1 does not provide`);
    if (imp.kind !== 'function') refuse(`imports ${key} as a ${imp.kind}, but it is a function`);
    const actual = signatures.imports.get(key);
    if (actual !== expected) refuse(`imports ${key} as ${actual}, but its signature is ${expected}`);
  }

  const exports = new Map(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]));
  if (!exports.has(EXPORT_MEMORY)) refuse(`missing export ${EXPORT_MEMORY}`);
  if (exports.get(EXPORT_MEMORY) !== 'memory') refuse(`export ${EXPORT_MEMORY} is a ${exports.get(EXPORT_MEMORY)}, not a memory`);
  for (const [fn, expected] of Object.entries(FUNCTION_EXPORTS)) {
    const kind = exports.get(fn);
    if (kind === undefined) refuse(`missing export ${fn}`);
    if (kind !== 'function') refuse(`export ${fn} is a ${kind}, not a function`);
    const actual = signatures.exports.get(fn);
    if (actual !== expected) refuse(`export ${fn} has signature ${actual}, expected ${expected}`);
  }
  for (const [fn, expected] of Object.entries(OPTIONAL_FUNCTION_EXPORTS)) {
    const kind = exports.get(fn);
    if (kind === undefined) continue;
    if (kind !== 'function') refuse(`export ${fn} is a ${kind}, not a function`);
    const actual = signatures.exports.get(fn);
    if (actual !== expected) refuse(`export ${fn} has signature ${actual}, expected ${expected}`);
  }
}

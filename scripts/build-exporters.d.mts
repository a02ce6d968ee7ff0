// Types of build-exporters.mjs for the TypeScript tests that import it.
export declare const ROOT: string;
export declare const BUILD_DIR: string;
export declare const C_FLAGS: readonly string[];
export declare function ascFlags(baseDir: string, sdkDir?: string): string[];
export declare function buildAssemblyScript(entry: string, out: string, opts?: { baseDir?: string; sdkDir?: string }): Promise<void>;
export declare function buildC(sources: readonly string[], out: string): Promise<void>;
export declare const RUST_SDK: string;
export declare const RUST_FLAGS: readonly string[];
export declare const RUST_CDYLIB_FLAGS: readonly string[];
export declare function buildRust(crateRoot: string, out: string, opts?: { sdkDir?: string }): Promise<void>;
export declare function findExporters(): { name: string; dir: string; language: 'c' | 'assemblyscript' }[];
export declare function buildAll(opts?: { force?: boolean }): Promise<string[]>;

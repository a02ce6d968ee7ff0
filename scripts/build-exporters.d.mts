// Types of build-exporters.mjs for the TypeScript tests that import it.
export declare const ROOT: string;
export declare const BUILD_DIR: string;
export declare const C_FLAGS: readonly string[];
export declare function ascFlags(baseDir: string, sdkDir?: string): string[];
export declare function buildAssemblyScript(entry: string, out: string, opts?: { baseDir?: string; sdkDir?: string }): Promise<void>;
export declare function buildC(sources: readonly string[], out: string): Promise<void>;
export declare function findExporters(): { name: string; dir: string; language: 'c' | 'assemblyscript' }[];
export declare function buildAll(opts?: { force?: boolean }): Promise<string[]>;

// Types of generate.mjs for the TypeScript tests that import it.
export declare const SCHEMA_VERSION: number;
/** File name → dashboard JSON. */
export declare function dashboards(): Record<string, Record<string, unknown>>;
export declare function render(dash: unknown): string;

// Types for scripts/start-profile.mjs, so the TypeScript first-run scenario can import it.
export declare const EXAMPLES: string;
export declare const START_SETTINGS: Record<string, unknown>;
export declare const START_FLAGS: string[];
export declare function prepareStartWorkspace(dir: string): string;

// Types for scripts/e2e-package.mjs.
export declare const TARGET: string;
export declare const vsixPath: string;
export interface PackagedVsix {
  vsix: string;
  bytes: number;
  files: number;
  seconds: number;
}
export declare function packageVsix(opts?: { quiet?: boolean }): PackagedVsix;

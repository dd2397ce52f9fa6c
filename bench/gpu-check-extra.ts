/** GPU checks of attribution (edges on a GPU provider against the CPU), run by gpu-check.ts. */
export interface GpuCheckContext {
  root: string;
  cacheDir: string;
  log: (s: string) => void;
  report: (name: string, err: number, tol: number, extra?: string) => void;
  relErr: (a: Float32Array, b: Float32Array) => number;
  providers: string[];
}

/** Returns the number of failed checks. */
export async function gpuChecks(_ctx: GpuCheckContext): Promise<number> {
  return 0;
}

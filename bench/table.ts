import type { ProviderSetting } from '../src/engine/runtime';

/** One measured figure. Ratios are what the bench reports; raw times are kept for context. */
export interface BenchRow {
  section: string;
  name: string;
  value: number;
  unit: string;
  provider?: string;
  /** A dimensionless comparison measured in the same run (e.g. engine time / reference time). */
  ratio?: number;
  ratioLabel?: string;
  note?: string;
}

export function formatTable(rows: BenchRow[]): string {
  const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));
  const lines = ['| section | figure | value | provider | ratio | note |', '|---|---|---|---|---|---|'];
  for (const r of rows) {
    const ratio = r.ratio === undefined ? '' : `${fmt(r.ratio)}${r.ratioLabel ? ` (${r.ratioLabel})` : ''}`;
    lines.push(`| ${r.section} | ${r.name} | ${fmt(r.value)} ${r.unit} | ${r.provider ?? ''} | ${ratio} | ${r.note ?? ''} |`);
  }
  return lines.join('\n');
}

export interface SectionContext {
  root: string;
  providers: ProviderSetting[];
  threads?: number;
  /** Matmul peaks measured earlier in the run: 'torch-cpu', '<provider>-f32', '<provider>-f16' → GFLOP/s. */
  peaks: Map<string, number>;
  log: (line: string) => void;
}

export type Section = (ctx: SectionContext) => Promise<BenchRow[]>;


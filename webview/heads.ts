/**
 * How an edge's attention heads read (head loadings, src/engine/attention/head-loadings.ts): each listed
 * head with its part of the edge as a share of the edge's weight (parts can exceed 100 % or be negative
 * when heads cancel), and what the unlisted heads carry together.
 */
import type { LinkHead } from './graph-model';

export interface HeadShare {
  name: string;
  weight: number;
  /** part / edge weight */
  share: number;
}

export function headShares(heads: readonly LinkHead[], edgeWeight: number): { listed: HeadShare[]; other?: HeadShare } {
  const listed = heads.map((h) => ({ name: `L${h.layer}.H${h.head}`, weight: h.weight, share: edgeWeight !== 0 ? h.weight / edgeWeight : 0 }));
  const rest = edgeWeight - heads.reduce((a, h) => a + h.weight, 0);
  // Float32 parts of a float32 edge: a remainder below 1e-4 of the edge is rounding, not a head.
  const other = Math.abs(rest) > 1e-4 * Math.abs(edgeWeight) ? { name: 'other heads', weight: rest, share: edgeWeight !== 0 ? rest / edgeWeight : 0 } : undefined;
  return other ? { listed, other } : { listed };
}

export function percent(x: number): string {
  return `${(x * 100).toFixed(Math.abs(x) < 0.1 ? 1 : 0)}%`;
}

/**
 * The viewer's verify runs: what was asked (which nodes, which setting), the run in progress (its stage,
 * its cancel), and the last report mapped back onto the graph's nodes, so the details pane can show the
 * table and the scatter and the canvas can mark the flagged nodes. The heavy work is the worker's; this
 * only keeps state and talks to the host.
 */
import type { FeatureAt, InterventionSemanticsView, VerifyGroupView, VerifyView } from '../src/shared/protocol';
import type { HostChannel } from './channel';

/** One thing verified: a node (or a supernode's members, or a selection ablated together). */
export interface VerifyItem {
  /** The scene id the result is drawn on (a node, a supernode); absent for a selection ablated together. */
  sceneId?: string;
  /** What the table calls it. */
  name: string;
  features: FeatureAt[];
}

export interface VerifiedItem extends VerifyItem {
  group: VerifyGroupView;
}

export interface Verification {
  report: VerifyView;
  items: VerifiedItem[];
  /** What was verified, for the heading ("3 selected nodes", "the pinned subgraph (5 features)"). */
  what: string;
  /** Scene id → its verdict, for the graph's marks and tooltips. */
  bySceneId: Map<string, VerifiedItem>;
}

export type Semantics = InterventionSemanticsView;

/** A reason a setting cannot be measured, or undefined (frozen norms need frozen attention). */
export function semanticsProblem(s: Semantics): string | undefined {
  return s.norms === 'frozen' && s.attention === 'recomputed' ? 'Frozen norms need frozen attention: the attention scores read normalised queries and keys.' : undefined;
}

/** "the real model", "the graph's own setting", or neither. */
export function semanticsNote(s: Semantics): string {
  if (s.attention === 'recomputed' && s.norms === 'recomputed') return 'the real model: nothing frozen';
  if (s.attention === 'frozen' && s.norms === 'frozen') return "the graph's own setting: a linear residual path";
  return 'attention patterns kept from the prompt';
}

/**
 * Why a flagged node's measured effect differs from the graph, as far as the setting tells: whatever
 * was recomputed is where it can run. With attention and norms both frozen only the MLPs are live, and
 * a contradiction means the real MLPs respond to the ablation beyond what their transcoders (plus
 * constant error nodes) capture (the toy model's layer-0 flags in that setting are this: 2–4× the
 * predicted size, while transcoders with frozen errors reproduce the prediction).
 */
export function flagReason(s: Semantics): string {
  if (s.attention === 'recomputed') return 'effect runs through attention or normalisation';
  if (s.norms === 'recomputed') return 'effect runs through normalisation (attention was frozen)';
  return 'effect runs through the MLPs beyond their transcoders (attention and norms were frozen)';
}

export class VerifyRuns {
  /** Verify measures the real model unless the user freezes something (as the CLI does). */
  semantics: Semantics = { attention: 'recomputed', norms: 'recomputed' };
  running?: { stage: string; fraction?: number; what: string; abort: AbortController };
  result?: Verification;
  error?: string;
  /** Bumped on every change: part of the details section's key. */
  version = 0;
  private generation = 0;

  constructor(private readonly changed: () => void) {}

  private bump(): void {
    this.version++;
    this.changed();
  }

  /** Forgets everything (a new graph): a run still going is cancelled and its answer ignored. */
  reset(): void {
    this.running?.abort.abort();
    this.generation++;
    this.running = undefined;
    this.result = undefined;
    this.error = undefined;
    this.bump();
  }

  cancel(): void {
    this.running?.abort.abort();
  }

  setSemantics(s: Semantics): void {
    this.semantics = { ...s };
    this.bump();
  }

  async run(host: HostChannel, items: VerifyItem[], what: string, keep?: FeatureAt[]): Promise<void> {
    if (!items.length) return;
    const problem = semanticsProblem(this.semantics);
    if (problem) {
      this.error = problem;
      return this.bump();
    }
    this.running?.abort.abort();
    const gen = ++this.generation;
    const abort = new AbortController();
    this.running = { stage: 'Starting', what, abort };
    this.error = undefined;
    this.bump();
    const r = await host.request(
      { type: 'verify', groups: items.map((i) => i.features), semantics: { ...this.semantics }, ...(keep ? { keep } : {}) },
      {
        signal: abort.signal,
        onProgress: (p) => {
          if (gen !== this.generation || !this.running) return;
          this.running.stage = p.stage;
          this.running.fraction = p.fraction;
          this.bump();
        },
      },
    );
    if (gen !== this.generation) return;
    this.running = undefined;
    if (!r.report || r.error) {
      this.error = abort.signal.aborted ? 'Verification cancelled.' : r.error ?? 'Verification failed.';
      return this.bump();
    }
    const verified = items.map((it, i) => ({ ...it, group: r.report!.groups[i] }));
    const bySceneId = new Map<string, VerifiedItem>();
    for (const v of verified) if (v.sceneId) bySceneId.set(v.sceneId, v);
    this.result = { report: r.report, items: verified, what, bySceneId };
    this.bump();
  }

  /** Scene ids whose verdict is flagged (measured contradicts the graph). */
  flagged(): Set<string> {
    const out = new Set<string>();
    for (const [id, v] of this.result?.bySceneId ?? []) if (v.group.flagged) out.add(id);
    return out;
  }
}

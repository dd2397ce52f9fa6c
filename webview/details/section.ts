/**
 * The details pane is a list of sections, one module each (card, connections, steering, subgraph, node
 * list, …). To add one: write a `DetailsSection` in this folder and list it in `index.ts`. A section
 * renders from the context alone and is re-rendered only when its `key` changes, so what the user typed
 * or unfolded in it survives unrelated updates (a hover, a pan, another section's change).
 */
import type { FeatureCard, FeatureRef, GraphPayload } from '../../src/shared/protocol';
import type { HostChannel } from '../channel';
import type { ViewGraph, ViewNode } from '../graph-model';
import type { Scene, SceneNode } from '../scene';
import type { ViewState } from '../view-state';
import type { VerifyRuns } from '../verify-runs';

export interface ViewActions {
  /** Selects a node as a click would (additive: Shift-click) and pans it into view. */
  select(id: string, additive?: boolean): void;
  /** Applies a state change (view-state.ts) and redraws what depends on it. */
  update(change: (s: ViewState) => ViewState): void;
  /**
   * Selects the feature's node in the graph (pinned when the threshold hides it) and pans it into view;
   * false when the graph has no node of that feature.
   */
  showFeature(f: FeatureRef): boolean;
}

export interface DetailsContext {
  graph: ViewGraph;
  scene: Scene;
  /** Bumped whenever the scene is rebuilt (threshold, pins, groups): a cheap part of a section's key. */
  sceneVersion: number;
  state: ViewState;
  payload: GraphPayload;
  /** The node the pane describes: the last one selected, when it is shown. */
  focus?: SceneNode;
  /** Every selected node that is shown, in selection order. */
  selection: SceneNode[];
  host: HostChannel;
  actions: ViewActions;
  /** Verify runs and the last report (flags drawn on the graph). */
  verify: VerifyRuns;
  /** The feature card of a feature node (asked of the host once per feature). */
  card(n: ViewNode): Promise<FeatureCard | undefined>;
  /** False once the pane has moved on to another context (for sections that finish asynchronously). */
  isCurrent(): boolean;
}

export interface DetailsSection {
  /** Also the section's `data-section` attribute. */
  id: string;
  /** Re-render when this changes; '' hides the section. */
  key(ctx: DetailsContext): string;
  render(ctx: DetailsContext): HTMLElement;
}

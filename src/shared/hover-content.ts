/**
 * The Markdown of a token hover: the token, its top features (label, activation, a command link that
 * focuses the feature in the graph and paints it on the prompt), the model's next-token predictions
 * and the logit lens. Pure, so it is unit-tested and timed in the bench.
 */
import type { PredictionView } from './protocol';
import type { ActiveFeature, ForwardResult, LensRow } from './rpc';
import { escapeMarkdown, tokenMarkdown } from './markdown';
import { DEFAULT_LABEL_MIN_F1, labelView } from './label-text';

export const FOCUS_COMMAND = 'circuitInspector.focusFeature';

export interface FocusArgs {
  uri: string;
  layer: number;
  feature: number;
  position: number;
  /** Where the analysed prompt starts in the document: which block's analysis (a file may hold several). */
  at?: number;
}

function commandLink(title: string, command: string, args: unknown): string {
  return `[${title}](command:${command}?${encodeURIComponent(JSON.stringify(args))} "Focus this feature in the graph")`;
}

function preds(ps: PredictionView[]): string {
  return ps.map((p) => `\`${JSON.stringify(p.token).slice(1, -1).replace(/`/g, 'ˋ')}\`\u00a0${(p.prob * 100).toFixed(1)}%`).join(', ');
}

export function hoverMarkdown(uri: string, forward: ForwardResult, t: number, lens: LensRow[] | undefined, maxFeatures = 6, minF1 = DEFAULT_LABEL_MIN_F1, promptStart?: number): string {
  const tok = forward.tokens[t];
  const lines: string[] = [];
  lines.push(`**Circuit Inspector** · token ${t}: \`${JSON.stringify(tok.text).slice(1, -1).replace(/`/g, 'ˋ')}\``);
  lines.push('');
  const feats: ActiveFeature[] = (forward.features[t] ?? []).slice(0, maxFeatures);
  if (feats.length) {
    lines.push('| Feature | Label score | Activation | |');
    lines.push('|---|---|---:|---|');
    for (const f of feats) {
      const args: FocusArgs = { uri, layer: f.layer, feature: f.feature, position: t, ...(promptStart !== undefined ? { at: promptStart } : {}) };
      const v = labelView(f.layer, f.feature, f.label, f.evidence, minF1);
      const score = v.score ? `${v.score}${v.against ? ` vs ${v.against}` : ''}` : 'no score';
      lines.push(`| ${escapeMarkdown(`${v.id} ${v.text}`)} | ${escapeMarkdown(score)} | ${f.activation.toFixed(2)} | ${commandLink('Focus', FOCUS_COMMAND, args)} |`);
    }
  } else {
    lines.push('_No transcoder feature is active at this token._');
  }
  const next = forward.predictions[t];
  if (next?.length) {
    lines.push('');
    lines.push(`**Next token:** ${preds(next)}`);
  }
  if (lens?.length) {
    lines.push('');
    lines.push('**Logit lens** (residual stream after each layer):');
    lines.push('');
    for (const row of lens) lines.push(`- L${row.layer}: ${preds(row.predictions)}`);
  }
  return lines.join('\n');
}

export { tokenMarkdown };

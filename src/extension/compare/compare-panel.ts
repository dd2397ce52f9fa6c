/**
 * The compare view: an editor-area webview panel showing two graphs aligned (compare-html.ts).
 * Opened by **Compare Graph Files…** (two `*.graph.json`, from the palette or the explorer's
 * multi-selection) and by the counterfactual commands, which hand it two graphs they just computed.
 */
import * as vscode from 'vscode';
import { basename } from 'node:path';
import { compareGraphs, type CompareOptions } from '../../engine/compare/compare-graphs';
import type { AttributionGraph } from '../../engine/attribution/types';
import { fromGraphFile, parseGraphFile } from '../../engine/graph-file';
import { compareHtml, type CompareSides } from './compare-html';

export const COMPARE_PANEL_TYPE = 'circuitInspector.compare';

export interface ComparedGraph {
  graph: AttributionGraph;
  /** Shown as the side's caption: a file name, "counterfactual", a dictionary. */
  caption: string;
}

/** Opens (or reuses) the compare panel for A against B. */
export function showComparison(extensionUri: vscode.Uri, a: ComparedGraph, b: ComparedGraph, opts: CompareOptions = {}): vscode.WebviewPanel {
  const comparison = compareGraphs(a.graph, b.graph, opts);
  const title = `Compare: ${a.caption} ↔ ${b.caption}`;
  const panel = vscode.window.createWebviewPanel(COMPARE_PANEL_TYPE, title, vscode.ViewColumn.Beside, {
    enableScripts: false,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'media')],
  });
  const sides: CompareSides = {
    a: { caption: a.caption, prompt: a.graph.prompt, nLayers: a.graph.nLayers },
    b: { caption: b.caption, prompt: b.graph.prompt, nLayers: b.graph.nLayers },
  };
  panel.webview.html = compareHtml(
    { cspSource: panel.webview.cspSource, cssUri: panel.webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'compare.css')).toString(), title },
    comparison,
    sides,
  );
  return panel;
}

async function readGraph(uri: vscode.Uri): Promise<AttributionGraph> {
  const bytes = await vscode.workspace.fs.readFile(uri);
  return fromGraphFile(parseGraphFile(bytes));
}

/** The command: graph files from the explorer selection, else two picked in an open dialog. */
export async function compareGraphFiles(extensionUri: vscode.Uri, clicked?: vscode.Uri, selected?: vscode.Uri[]): Promise<void> {
  let uris = (selected ?? (clicked ? [clicked] : [])).filter((u) => u instanceof vscode.Uri);
  if (uris.length !== 2) {
    const picked = await vscode.window.showOpenDialog({
      canSelectMany: true,
      openLabel: 'Compare',
      title: uris.length === 1 ? `Pick the graph to compare ${basename(uris[0].fsPath)} with` : 'Pick two graph files to compare',
      filters: { 'Graph JSON': ['json'] },
    });
    if (!picked) return;
    uris = uris.length === 1 ? [uris[0], ...picked] : picked;
  }
  if (uris.length !== 2) {
    void vscode.window.showErrorMessage(`Compare needs exactly two graph files; ${uris.length} were chosen.`);
    return;
  }
  try {
    const [a, b] = await Promise.all(uris.map(readGraph));
    showComparison(extensionUri, { graph: a, caption: basename(uris[0].fsPath) }, { graph: b, caption: basename(uris[1].fsPath) });
  } catch (e) {
    void vscode.window.showErrorMessage(`Could not compare the graphs: ${e instanceof Error ? e.message : String(e)}`);
  }
}

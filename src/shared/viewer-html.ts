/**
 * The viewer's HTML: a strict CSP (`default-src 'none'`, the script by nonce only, styles / fonts /
 * images only from the extension's own resources — no 'unsafe-inline'), the static skeleton the
 * script fills, and `data-testid` attributes the end-to-end tests select by. Pure (no 'vscode') so the
 * same page is rendered standalone in tests.
 */

export interface HtmlResources {
  cspSource: string;
  nonce: string;
  scriptUri: string;
  cssUri: string;
  codiconUri: string;
  title: string;
}

const attr = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function viewerHtml(r: HtmlResources): string {
  const csp = [
    `default-src 'none'`,
    `img-src ${r.cspSource} data: blob:`,
    `style-src ${r.cspSource}`,
    `font-src ${r.cspSource}`,
    `script-src 'nonce-${r.nonce}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attr(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" id="vscode-codicon-stylesheet" href="${attr(r.codiconUri)}">
<link rel="stylesheet" href="${attr(r.cssUri)}">
<title>${attr(r.title)}</title>
</head>
<body data-testid="graph-root">
<header id="toolbar" class="toolbar" data-testid="graph-toolbar" hidden>
  <div class="row">
    <span id="title" class="title" data-testid="graph-title"></span>
    <span id="summary" class="summary" data-testid="graph-summary"></span>
  </div>
  <div id="scores" class="row scores" data-testid="graph-scores" hidden>
    <span id="scores-graph" data-testid="graph-scores-graph"></span>
    <span id="scores-subgraph" data-testid="graph-scores-subgraph" hidden></span>
  </div>
  <div class="row">
    <vscode-textfield id="search" class="search" placeholder="Search features" data-testid="graph-search" aria-label="Search nodes">
      <vscode-icon slot="content-before" name="search"></vscode-icon>
    </vscode-textfield>
    <span id="search-count" class="muted" data-testid="graph-search-count"></span>
  </div>
  <div class="row">
    <label class="slider" for="threshold">Prune
      <input type="range" id="threshold" min="0.05" max="1" step="0.01" value="1" data-testid="graph-threshold" aria-label="Node pruning threshold (cumulative influence)">
      <span id="threshold-value" class="muted" data-testid="graph-threshold-value"></span>
    </label>
    <vscode-toolbar-container>
      <vscode-toolbar-button id="pin" icon="pin" label="Pin / unpin selected nodes" title="Pin / unpin selected nodes" data-testid="graph-pin"></vscode-toolbar-button>
      <vscode-toolbar-button id="pinned-only" icon="filter" toggleable label="Show the pinned subgraph only" title="Show the pinned subgraph only" data-testid="graph-pinned-only"></vscode-toolbar-button>
      <vscode-toolbar-button id="group" icon="group-by-ref-type" label="Group selected nodes into a supernode" title="Group selected nodes into a supernode" data-testid="graph-group"></vscode-toolbar-button>
      <vscode-toolbar-button id="ungroup" icon="ungroup-by-ref-type" label="Ungroup" title="Ungroup" data-testid="graph-ungroup"></vscode-toolbar-button>
      <vscode-toolbar-button id="fit" icon="screen-full" label="Fit to view" title="Fit to view" data-testid="graph-fit"></vscode-toolbar-button>
      <vscode-toolbar-button id="export-png" icon="file-media" label="Export PNG" title="Export PNG" data-testid="graph-export-png"></vscode-toolbar-button>
      <vscode-toolbar-button id="export-svg" icon="file-code" label="Export SVG" title="Export SVG" data-testid="graph-export-svg"></vscode-toolbar-button>
      <vscode-toolbar-button id="export-json" icon="json" label="Export graph JSON" title="Export graph JSON" data-testid="graph-export-json"></vscode-toolbar-button>
      <vscode-toolbar-button id="open-prompt" icon="go-to-file" label="Open the prompt" title="Open the prompt" data-testid="graph-open-prompt" hidden></vscode-toolbar-button>
    </vscode-toolbar-container>
  </div>
  <div id="group-form" class="row" data-testid="group-form" hidden>
    <vscode-textfield id="group-label" placeholder="Supernode label" data-testid="group-label"></vscode-textfield>
    <vscode-button id="group-ok" data-testid="group-ok">Group</vscode-button>
    <vscode-button id="group-cancel" secondary data-testid="group-cancel">Cancel</vscode-button>
  </div>
</header>
<div id="busy" class="busy" data-testid="graph-busy" hidden><vscode-progress-bar></vscode-progress-bar><span id="busy-label" class="muted"></span></div>
<div id="message" class="message" role="status" data-testid="graph-message" hidden></div>
<main id="graph-wrap" class="graph-wrap">
  <div id="graph" class="graph" data-testid="graph-canvas" aria-label="Attribution graph"></div>
  <div id="empty" class="empty" data-testid="graph-empty">
    <p>Analyze a prompt to see its attribution graph here.</p>
    <vscode-button id="empty-analyze" data-testid="graph-empty-analyze">Analyze Prompt</vscode-button>
  </div>
  <div id="tooltip" class="card tooltip" data-testid="feature-tooltip" hidden></div>
</main>
<div id="splitter" class="splitter" role="separator" aria-orientation="horizontal" aria-label="Resize the details pane (Arrow Up / Down)" tabindex="0" data-testid="graph-splitter"></div>
<!-- The sections (steering, card, connections, subgraph, node list) are built by webview/details/. -->
<section id="details" class="details" data-testid="graph-details"></section>
<script nonce="${attr(r.nonce)}" src="${attr(r.scriptUri)}"></script>
</body>
</html>`;
}

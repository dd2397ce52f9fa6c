/**
 * Where the prompts are in a document. Pure text functions (no 'vscode') so they are unit-tested.
 *
 * - Markdown (`*.prompt.md`, or any markdown): each fenced code block whose info string is `prompt`
 *   (```prompt … ```) is a prompt block.
 * - `*.prompt` files: blocks separated by lines holding only `---`; blank lines around a block and the
 *   final newline are not part of the prompt (a trailing newline would be a token of its own).
 * - Other text: no blocks; Analyze Prompt takes the selection or the whole file.
 *
 * Circuit tests: lines starting with `expect` (or `group`, which names a set of nodes for them) that
 * follow a block's prompt belong to the block, not to its text: in a `*.prompt` block, from the first
 * such line to the block's end; in markdown, the lines right after the closing fence (blank lines
 * allowed between them). src/engine/circuit-tests/ parses them.
 *
 * Counterfactuals: a `counterfactual: OTHER PROMPT` line in the same place names the prompt the block
 * is compared with (**Compare with Counterfactual**); like test lines, it is not part of the prompt.
 */

export interface PromptBlock {
  /** Offsets into the document text, end exclusive; `text === doc.slice(start, end)`. */
  start: number;
  end: number;
  text: string;
  /** The block's circuit-test lines (see the module comment), in document order. */
  expectations?: ExpectationLine[];
  /** The block's `counterfactual:` line: the prompt it is compared with (the first such line wins). */
  counterfactual?: ExpectationLine & { prompt: string };
}

export interface ExpectationLine {
  /** 0-based line number in the document. */
  line: number;
  /** Offsets of the line's content (end exclusive, before any \r). */
  start: number;
  end: number;
  text: string;
}

/** Whether a line is a circuit-test line (an expectation or a group definition). */
export function isExpectationLine(text: string): boolean {
  return /^\s*(expect\s|group\s+[^=]+=)/.test(text);
}

const COUNTERFACTUAL = /^\s*counterfactual:\s*(.*?)\s*$/;

/** Whether a line belongs to a block without being part of its prompt (test lines, a counterfactual). */
function isBlockLine(text: string): boolean {
  return isExpectationLine(text) || COUNTERFACTUAL.test(text);
}

/** Sorts a block's trailing lines into its circuit-test lines and its counterfactual. */
function attachBlockLines(block: PromptBlock, ls: Line[]): void {
  const exp: ExpectationLine[] = [];
  for (const l of ls) {
    if (!l.text.trim()) continue;
    const cf = COUNTERFACTUAL.exec(l.text);
    if (cf) {
      if (!block.counterfactual && cf[1]) block.counterfactual = { ...expectationOf(l), prompt: cf[1] };
    } else exp.push(expectationOf(l));
  }
  if (exp.length) block.expectations = exp;
}

export type PromptDialect = 'markdown' | 'prompt' | 'plain';

export function dialectFor(languageId: string, fileName: string): PromptDialect {
  if (languageId === 'markdown' || /\.prompt\.md$/i.test(fileName) || languageId === 'circuit-prompt-markdown') return 'markdown';
  if (languageId === 'circuit-prompt' || /\.prompt$/i.test(fileName)) return 'prompt';
  return 'plain';
}

interface Line {
  /** 0-based line number. */
  n: number;
  start: number;
  /** Offset of the line's end, before its newline. */
  end: number;
  text: string;
}

function lines(doc: string): Line[] {
  const out: Line[] = [];
  let start = 0;
  for (;;) {
    const nl = doc.indexOf('\n', start);
    const end = nl < 0 ? doc.length : nl;
    const contentEnd = end > start && doc[end - 1] === '\r' ? end - 1 : end;
    out.push({ n: out.length, start, end: contentEnd, text: doc.slice(start, contentEnd) });
    if (nl < 0) break;
    start = nl + 1;
  }
  return out;
}

/** Trims blank lines at both ends of a line range and returns it as a block (undefined if empty). */
function blockOf(doc: string, ls: Line[]): PromptBlock | undefined {
  let a = 0;
  let b = ls.length - 1;
  while (a <= b && !ls[a].text.trim()) a++;
  while (b >= a && !ls[b].text.trim()) b--;
  if (a > b) return undefined;
  const start = ls[a].start;
  const end = ls[b].end;
  return { start, end, text: doc.slice(start, end) };
}

function markdownBlocks(doc: string): PromptBlock[] {
  const out: PromptBlock[] = [];
  const ls = lines(doc);
  for (let i = 0; i < ls.length; i++) {
    const open = /^(\s{0,3})(`{3,}|~{3,})\s*prompt\b.*$/.exec(ls[i].text);
    if (!open) continue;
    const fence = open[2];
    let j = i + 1;
    const close = new RegExp(`^\\s{0,3}\\${fence[0]}{${fence.length},}\\s*$`);
    while (j < ls.length && !close.test(ls[j].text)) j++;
    const body = ls.slice(i + 1, j);
    if (body.length) {
      // Inside a fence every character counts, blank lines included, except the fence lines themselves.
      const start = body[0].start;
      const end = body[body.length - 1].end;
      if (doc.slice(start, end).trim()) {
        const block: PromptBlock = { start, end, text: doc.slice(start, end) };
        // Circuit-test and counterfactual lines right after the closing fence.
        const after: Line[] = [];
        for (let k = j + 1; k < ls.length; k++) {
          if (!ls[k].text.trim()) continue;
          if (!isBlockLine(ls[k].text)) break;
          after.push(ls[k]);
        }
        attachBlockLines(block, after);
        out.push(block);
      }
    }
    i = j;
  }
  return out;
}

function expectationOf(l: Line): ExpectationLine {
  return { line: l.n, start: l.start, end: l.end, text: l.text };
}

/** A `*.prompt` block: its prompt lines, then (from the first expect/group/counterfactual line) its block lines. */
function promptFileBlock(doc: string, ls: Line[]): PromptBlock | undefined {
  const first = ls.findIndex((l) => isBlockLine(l.text));
  if (first < 0) return blockOf(doc, ls);
  const b = blockOf(doc, ls.slice(0, first));
  if (!b) return undefined;
  attachBlockLines(b, ls.slice(first));
  return b;
}

function promptFileBlocks(doc: string): PromptBlock[] {
  const out: PromptBlock[] = [];
  let current: Line[] = [];
  for (const l of lines(doc)) {
    if (l.text.trim() === '---') {
      const b = promptFileBlock(doc, current);
      if (b) out.push(b);
      current = [];
    } else current.push(l);
  }
  const b = promptFileBlock(doc, current);
  if (b) out.push(b);
  return out;
}

export function findPromptBlocks(doc: string, dialect: PromptDialect): PromptBlock[] {
  if (dialect === 'markdown') return markdownBlocks(doc);
  if (dialect === 'prompt') return promptFileBlocks(doc);
  return [];
}

/** The block containing the offset (a cursor at a block's very end still counts as inside it). */
export function blockAt(blocks: PromptBlock[], offset: number): PromptBlock | undefined {
  return blocks.find((b) => offset >= b.start && offset <= b.end);
}

/**
 * What Analyze Prompt analyses: a non-empty selection; else the prompt block under the cursor; else the
 * whole document, trimmed of surrounding whitespace (whose offsets are kept so hovers line up).
 */
export function choosePrompt(doc: string, dialect: PromptDialect, selection: { start: number; end: number } | undefined, cursor: number): PromptBlock | undefined {
  if (selection && selection.end > selection.start) {
    const text = doc.slice(selection.start, selection.end);
    if (text.trim()) return { start: selection.start, end: selection.end, text };
  }
  const blocks = findPromptBlocks(doc, dialect);
  const under = blockAt(blocks, cursor);
  if (under) return under;
  if (blocks.length === 1) return blocks[0];
  const lead = doc.length - doc.trimStart().length;
  const text = doc.trim();
  if (!text) return undefined;
  return { start: lead, end: lead + text.length, text };
}

/** `NAME.graph.json` beside the prompt: the prompt file's name without its prompt / text extensions. */
export function graphFileName(promptFileName: string): string {
  const m = /\.(prompt\.md|prompt)$/i.exec(promptFileName);
  const base = m ? promptFileName.slice(0, m.index) : promptFileName.replace(/\.[^.]+$/, '');
  return `${base || 'prompt'}.graph.json`;
}

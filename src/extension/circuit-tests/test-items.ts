/**
 * Which test items a prompt document holds, as pure data (no 'vscode', unit-tested): one per prompt
 * block that has `expect` lines, with one child per expectation. `group` lines define names for the
 * expectations and are not tests.
 */
import { findPromptBlocks, type PromptDialect } from '../../shared/prompt-blocks';

export interface ExpectationItem {
  /** 0-based line; also its id within the document. */
  line: number;
  label: string;
  /** Character range of the line's content. */
  startCol: number;
  endCol: number;
}

export interface BlockItem {
  /** 0-based line of the prompt's first line. */
  line: number;
  label: string;
  /** Offsets of the prompt text. */
  start: number;
  end: number;
  expectations: ExpectationItem[];
}

export function testItemsOf(doc: string, dialect: PromptDialect): BlockItem[] {
  const out: BlockItem[] = [];
  for (const b of findPromptBlocks(doc, dialect)) {
    const exps = (b.expectations ?? []).filter((e) => /^\s*expect\s/.test(e.text));
    if (!exps.length) continue;
    const firstLine = b.text.split('\n')[0];
    out.push({
      line: lineOf(doc, b.start),
      label: firstLine.length > 60 ? `${firstLine.slice(0, 57)}…` : firstLine,
      start: b.start,
      end: b.end,
      expectations: exps.map((e) => {
        const lead = e.text.length - e.text.trimStart().length;
        return { line: e.line, label: e.text.trim(), startCol: lead, endCol: e.text.trimEnd().length };
      }),
    });
  }
  return out;
}

function lineOf(doc: string, offset: number): number {
  let n = 0;
  for (let i = 0; i < offset; i++) if (doc.charCodeAt(i) === 10) n++;
  return n;
}

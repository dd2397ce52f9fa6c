/**
 * The circuit-test language: one line per expectation, after a prompt block (src/shared/prompt-blocks.ts
 * finds the lines). Documented in README.md "Circuit tests".
 *
 *   expect top1 TOKEN                            the most probable next token
 *   expect top K TOKEN                           TOKEN among the K most probable
 *   expect path NODE -> NODE [-> NODE …]         each NODE reachable from the previous along the
 *                                                pruned graph's edges (through any nodes in between)
 *   expect ablate NODE lowers|raises TOKEN by >= X
 *                                                ablating NODE's features moves TOKEN's logit at the last
 *                                                position by at least X (the default intervention semantics)
 *   expect [not] in-graph NODE [at T]            NODE survives pruning at node threshold T (default 0.8)
 *   group NAME = NODE, NODE, …                   a named set of nodes (a supernode) usable as NODE
 *
 * NODE: `L3#95` (a feature, any position) or `L3#95@8` (at position 8); "quoted text" (features whose
 * label contains it, case-insensitive); a bare word (the token: its embedding or its output logit), or a
 * group's name. TOKEN: a bare word or "quoted" (for tokens with spaces), matched against the token's
 * text exactly or with surrounding spaces trimmed.
 */

export type NodeRef =
  | { kind: 'feature'; layer: number; feature: number; position?: number }
  | { kind: 'label'; text: string }
  | { kind: 'token'; text: string }
  | { kind: 'group'; name: string };

export type Expectation =
  | { kind: 'top'; k: number; token: string }
  | { kind: 'path'; nodes: NodeRef[] }
  | { kind: 'ablate'; node: NodeRef; direction: 'lowers' | 'raises'; token: string; by: number }
  | { kind: 'in-graph'; node: NodeRef; negate: boolean; threshold?: number };

export interface ParsedLine {
  /** 0-based document line. */
  line: number;
  text: string;
  expectation?: Expectation;
  /** Why the line is not a valid expectation. */
  error?: string;
}

export interface ParsedBlock {
  groups: Map<string, NodeRef[]>;
  /** Expectation lines (group lines with an error are reported here too). */
  items: ParsedLine[];
}

class SyntaxError_ extends Error {}

/** Splits a line into words, keeping "quoted strings" (with \" escapes) as single tokens marked quoted. */
function words(s: string): { text: string; quoted: boolean }[] {
  const out: { text: string; quoted: boolean }[] = [];
  let i = 0;
  while (i < s.length) {
    if (/\s/.test(s[i])) {
      i++;
      continue;
    }
    if (s[i] === '"') {
      let j = i + 1, t = '';
      while (j < s.length && s[j] !== '"') {
        if (s[j] === '\\' && j + 1 < s.length) j++;
        t += s[j++];
      }
      if (j >= s.length) throw new SyntaxError_('unclosed quote');
      out.push({ text: t, quoted: true });
      i = j + 1;
      continue;
    }
    if (s.startsWith('->', i) || s[i] === ',') {
      const t = s[i] === ',' ? ',' : '->';
      out.push({ text: t, quoted: false });
      i += t.length;
      continue;
    }
    let j = i;
    while (j < s.length && !/\s/.test(s[j]) && s[j] !== '"' && s[j] !== ',' && !s.startsWith('->', j)) j++;
    out.push({ text: s.slice(i, j), quoted: false });
    i = j;
  }
  return out;
}

function nodeRef(w: { text: string; quoted: boolean }, groups: Map<string, NodeRef[]>): NodeRef {
  if (w.quoted) {
    if (!w.text.trim()) throw new SyntaxError_('an empty label');
    return { kind: 'label', text: w.text };
  }
  const m = /^L(\d+)#(\d+)(?:@(\d+))?$/i.exec(w.text);
  if (m) return { kind: 'feature', layer: Number(m[1]), feature: Number(m[2]), position: m[3] === undefined ? undefined : Number(m[3]) };
  if (groups.has(w.text)) return { kind: 'group', name: w.text };
  if (w.text === '->' || w.text === ',') throw new SyntaxError_(`a node is missing before "${w.text}"`);
  return { kind: 'token', text: w.text };
}

function number(w: { text: string } | undefined, what: string): number {
  const n = w ? Number(w.text) : NaN;
  if (!w || !Number.isFinite(n)) throw new SyntaxError_(`${what} must be a number${w ? `, got "${w.text}"` : ''}`);
  return n;
}

function parseExpectation(rest: { text: string; quoted: boolean }[], groups: Map<string, NodeRef[]>): Expectation {
  const [head, ...args] = rest;
  const need = (n: number, form: string) => {
    if (args.length !== n) throw new SyntaxError_(`expected: expect ${form}`);
  };
  switch (head?.quoted ? '' : head?.text) {
    case 'top1':
      need(1, 'top1 TOKEN');
      return { kind: 'top', k: 1, token: args[0].text };
    case 'top': {
      need(2, 'top K TOKEN');
      const k = number(args[0], 'K');
      if (!Number.isInteger(k) || k < 1) throw new SyntaxError_('K must be a whole number ≥ 1');
      return { kind: 'top', k, token: args[1].text };
    }
    case 'path': {
      const nodes: NodeRef[] = [];
      for (let i = 0; i < args.length; i += 2) {
        nodes.push(nodeRef(args[i], groups));
        if (i + 1 < args.length && args[i + 1].text !== '->') throw new SyntaxError_(`expected "->" after ${args[i].text}`);
      }
      if (nodes.length < 2 || args[args.length - 1].text === '->') throw new SyntaxError_('expected: expect path NODE -> NODE [-> NODE …]');
      return { kind: 'path', nodes };
    }
    case 'ablate': {
      // ablate NODE lowers|raises TOKEN by >= X
      if (args.length !== 6 || !['lowers', 'raises'].includes(args[1].text) || args[3].text !== 'by' || args[4].text !== '>=') {
        throw new SyntaxError_('expected: expect ablate NODE lowers|raises TOKEN by >= X');
      }
      const by = number(args[5], 'X');
      if (by < 0) throw new SyntaxError_('X must be ≥ 0 (say lowers or raises for the direction)');
      return { kind: 'ablate', node: nodeRef(args[0], groups), direction: args[1].text as 'lowers' | 'raises', token: args[2].text, by };
    }
    case 'not':
    case 'in-graph': {
      const negate = head.text === 'not';
      const a = negate ? args.slice(1) : args;
      if (negate && args[0]?.text !== 'in-graph') throw new SyntaxError_('expected: expect not in-graph NODE [at T]');
      if (a.length !== 1 && !(a.length === 3 && a[1].text === 'at')) throw new SyntaxError_(`expected: expect ${negate ? 'not ' : ''}in-graph NODE [at T]`);
      const threshold = a.length === 3 ? number(a[2], 'T') : undefined;
      if (threshold !== undefined && !(threshold > 0 && threshold <= 1)) throw new SyntaxError_('T is a cumulative-influence threshold in (0, 1]');
      return { kind: 'in-graph', node: nodeRef(a[0], groups), negate, threshold };
    }
    default:
      throw new SyntaxError_(`unknown expectation "${head?.text ?? ''}" (top1, top, path, ablate, in-graph, not in-graph)`);
  }
}

/** Parses a block's test lines; errors are per line, never thrown. */
export function parseBlockLines(lines: { line: number; text: string }[]): ParsedBlock {
  const groups = new Map<string, NodeRef[]>();
  const items: ParsedLine[] = [];
  for (const l of lines) {
    const text = l.text.trim();
    try {
      const m = /^group\s+([^=]+?)\s*=\s*(.*)$/.exec(text);
      if (m) {
        const name = m[1];
        if (!/^[\w.-]+$/.test(name)) throw new SyntaxError_(`a group name is one word (letters, digits, _ . -), got "${name}"`);
        const ws = words(m[2]);
        const members: NodeRef[] = [];
        for (let i = 0; i < ws.length; i += 2) {
          members.push(nodeRef(ws[i], groups));
          if (i + 1 < ws.length && ws[i + 1].text !== ',') throw new SyntaxError_(`expected "," between group members`);
        }
        if (!members.length) throw new SyntaxError_('a group needs at least one node');
        groups.set(name, members);
        continue;
      }
      const ws = words(text);
      if (ws[0]?.text !== 'expect' || ws[0].quoted) throw new SyntaxError_('a test line starts with "expect" or "group"');
      items.push({ line: l.line, text, expectation: parseExpectation(ws.slice(1), groups) });
    } catch (e) {
      if (!(e instanceof SyntaxError_)) throw e;
      items.push({ line: l.line, text, error: e.message });
    }
  }
  return { groups, items };
}

export function describeNode(n: NodeRef): string {
  switch (n.kind) {
    case 'feature':
      return `L${n.layer}#${n.feature}${n.position === undefined ? '' : `@${n.position}`}`;
    case 'label':
      return JSON.stringify(n.text);
    case 'token':
      return n.text;
    case 'group':
      return `group ${n.name}`;
  }
}

/**
 * Paraphrase families: `{Dallas|Houston} is a city in` stands for every combination of the
 * alternatives (at most `max`). A prompt without braces is one variant.
 */
export function expandFamily(prompt: string, max = 64): string[] {
  const parts: (string | string[])[] = [];
  const re = /\{([^{}]*\|[^{}]*)\}/g;
  let last = 0;
  for (let m = re.exec(prompt); m; m = re.exec(prompt)) {
    parts.push(prompt.slice(last, m.index), m[1].split('|'));
    last = m.index + m[0].length;
  }
  parts.push(prompt.slice(last));
  let out = [''];
  for (const p of parts) {
    out = typeof p === 'string' ? out.map((o) => o + p) : out.flatMap((o) => p.map((alt) => o + alt));
    if (out.length > max) throw new Error(`The paraphrase family has more than ${max} variants; use fewer alternatives.`);
  }
  return out;
}

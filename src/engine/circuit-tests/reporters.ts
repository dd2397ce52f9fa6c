/**
 * Circuit-test results as TAP 13 (one test point per expectation) or JUnit XML (one testsuite per
 * file, one testcase per expectation), for CI. Line numbers are 1-based, as editors show them.
 */
import type { BlockResult } from './runner';

export interface FileResult {
  /** As given or relative to the working folder. */
  file: string;
  blocks: BlockResult[];
  /** The file could not be run at all (unreadable, bad model…). */
  error?: string;
}

const yamlString = (s: string) => JSON.stringify(s);

export function toTap(files: FileResult[]): string {
  const out: string[] = ['TAP version 13'];
  let n = 0;
  for (const f of files) {
    if (f.error) {
      out.push(`not ok ${++n} - ${f.file}`, '  ---', `  message: ${yamlString(f.error)}`, '  ...');
      continue;
    }
    for (const b of f.blocks) {
      out.push(`# ${f.file}:${b.line + 1} ${JSON.stringify(b.prompt)}${b.variants.length > 1 ? ` (${b.variants.length} variants)` : ''}`);
      for (const r of b.results) {
        out.push(`${r.ok ? 'ok' : 'not ok'} ${++n} - ${f.file}:${r.line + 1} ${r.text}`);
        if (!r.ok) out.push('  ---', `  message: ${yamlString(r.message)}`, `  file: ${yamlString(f.file)}`, `  line: ${r.line + 1}`, '  ...');
      }
      if (b.stability) {
        out.push(`# stability over ${b.variants.length} variants (share of variants each feature appears in):`);
        for (const s of b.stability) out.push(`#   ${s.node.padEnd(10)} ${s.share.toFixed(2)}${s.label ? `  ${s.label}` : ''}`);
      }
    }
  }
  out.push(`1..${n}`);
  return out.join('\n') + '\n';
}

function xml(s: string): string {
  // Control characters are not allowed in XML 1.0: dropping them is the point of the second pattern.
  // eslint-disable-next-line no-control-regex
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');
}

export function toJunit(files: FileResult[]): string {
  const suites: string[] = [];
  let total = 0, failed = 0;
  for (const f of files) {
    const cases: string[] = [];
    let fs = 0;
    if (f.error) {
      cases.push(`    <testcase classname="${xml(f.file)}" name="${xml(f.file)}"><error message="${xml(f.error)}"/></testcase>`);
      fs++;
    }
    for (const b of f.blocks) {
      for (const r of b.results) {
        const name = `line ${r.line + 1}: ${r.text}`;
        if (r.ok) cases.push(`    <testcase classname="${xml(f.file)}:${b.line + 1}" name="${xml(name)}" file="${xml(f.file)}" line="${r.line + 1}"/>`);
        else {
          fs++;
          cases.push(`    <testcase classname="${xml(f.file)}:${b.line + 1}" name="${xml(name)}" file="${xml(f.file)}" line="${r.line + 1}">\n      <failure message="${xml(r.message.split('\n')[0])}">${xml(`${f.file}:${r.line + 1}: ${r.message}`)}</failure>\n    </testcase>`);
        }
      }
    }
    total += cases.length;
    failed += fs;
    suites.push(`  <testsuite name="${xml(f.file)}" tests="${cases.length}" failures="${fs}">\n${cases.join('\n')}\n  </testsuite>`);
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="circuit-inspector" tests="${total}" failures="${failed}">\n${suites.join('\n')}\n</testsuites>\n`;
}

export function anyFailed(files: FileResult[]): boolean {
  return files.some((f) => !!f.error || f.blocks.some((b) => b.results.some((r) => !r.ok)));
}

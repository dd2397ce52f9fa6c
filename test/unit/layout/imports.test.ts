/**
 * The house rules of the layout, checked on the import statements themselves: the webview imports only
 * its own folder and src/shared; src/shared imports nothing outside itself, types included (both sides
 * depend on it, it depends on neither); the engine never imports 'vscode', the extension, the worker or
 * the webview; nothing outside bench/ imports bench code; and no modules import each other in a circle.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../../..');

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const rel = join(dir, name);
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...tsFiles(rel));
    else if (name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

interface Import {
  spec: string;
  typeOnly: boolean;
  /** Repository-relative target of a relative import, else undefined (a package). */
  target?: string;
}

function importsOf(file: string): Import[] {
  const src = readFileSync(join(ROOT, file), 'utf8');
  const out: Import[] = [];
  const re = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm;
  for (let m = re.exec(src); m; m = re.exec(src)) {
    const spec = m[3];
    out.push({ spec, typeOnly: Boolean(m[2]), target: spec.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), spec)) : undefined });
  }
  for (const m of src.matchAll(/(?:require|import)\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    out.push({ spec: m[1], typeOnly: false, target: m[1].startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), m[1])) : undefined });
  }
  return out;
}

const inside = (target: string | undefined, ...dirs: string[]) => target !== undefined && dirs.some((d) => target === d || target.startsWith(`${d}/`));

test('the webview imports only its own folder, src/shared and packages', () => {
  const bad = tsFiles('webview').flatMap((f) => importsOf(f).filter((i) => i.target !== undefined && !inside(i.target, 'webview', 'src/shared')).map((i) => `${f} → ${i.spec}`));
  assert.deepEqual(bad, []);
});

test('src/shared imports nothing outside itself (not even types), and no Node or vscode module', () => {
  const bad = tsFiles('src/shared').flatMap((f) =>
    importsOf(f)
      .filter((i) => (i.target === undefined ? /^(node:|vscode$|fs$|path$)/.test(i.spec) : !inside(i.target, 'src/shared')))
      .map((i) => `${f} → ${i.spec}`),
  );
  assert.deepEqual(bad, []);
});

test("the engine never imports 'vscode', the extension, the worker, the CLI, the webview or bench code", () => {
  const bad = tsFiles('src/engine').flatMap((f) =>
    importsOf(f).filter((i) => i.spec === 'vscode' || inside(i.target, 'src/extension', 'src/worker', 'src/cli', 'src/cli.ts', 'webview', 'bench')).map((i) => `${f} → ${i.spec}`),
  );
  assert.deepEqual(bad, []);
});

test("the worker and the CLI never import 'vscode', the extension or the webview", () => {
  const files = [...tsFiles('src/worker'), ...tsFiles('src/cli'), 'src/cli.ts'];
  const bad = files.flatMap((f) => importsOf(f).filter((i) => i.spec === 'vscode' || inside(i.target, 'src/extension', 'webview')).map((i) => `${f} → ${i.spec}`));
  assert.deepEqual(bad, []);
});

test('bench code stays out of the product, and bench imports no extension code', () => {
  const product = ['src', 'webview'].flatMap(tsFiles);
  const bad = product.flatMap((f) => importsOf(f).filter((i) => inside(i.target, 'bench')).map((i) => `${f} → ${i.spec}`));
  const benchBad = tsFiles('bench').flatMap((f) => importsOf(f).filter((i) => i.spec === 'vscode' || inside(i.target, 'src/extension')).map((i) => `${f} → ${i.spec}`));
  assert.deepEqual([...bad, ...benchBad], []);
});

test('no import cycles among the product modules (type-only imports included)', () => {
  const files = ['src', 'webview'].flatMap(tsFiles);
  const known = new Set(files);
  const resolveTs = (t: string) => [t, `${t}.ts`, `${t}/index.ts`].find((c) => known.has(c));
  const edges = new Map(files.map((f) => [f, importsOf(f).flatMap((i) => (i.target ? [resolveTs(i.target)] : [])).filter((t): t is string => t !== undefined)]));
  // Depth-first search with colours: a grey node met again closes a cycle.
  const colour = new Map<string, 'grey' | 'black'>();
  const cycles: string[] = [];
  const stack: string[] = [];
  const visit = (f: string) => {
    colour.set(f, 'grey');
    stack.push(f);
    for (const t of edges.get(f) ?? []) {
      if (colour.get(t) === 'grey') cycles.push([...stack.slice(stack.indexOf(t)), t].join(' → '));
      else if (!colour.has(t)) visit(t);
    }
    stack.pop();
    colour.set(f, 'black');
  };
  for (const f of files) if (!colour.has(f)) visit(f);
  assert.deepEqual(cycles, []);
});

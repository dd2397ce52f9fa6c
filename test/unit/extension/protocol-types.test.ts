/**
 * The webview protocol is checked by the compiler: a message type added to a union without a handler,
 * or a request without its reply, fails `tsc`. Proven by compiling a fixture with the TypeScript API —
 * the same table compiles against the protocol as it is and fails against it with one more message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ts from 'typescript';

const PROTOCOL = resolve(__dirname, '../../../src/shared/protocol');

function diagnostics(source: string): { line: number; text: string }[] {
  const dir = mkdtempSync(join(tmpdir(), 'ci-protocol-types-'));
  try {
    const file = join(dir, 'fixture.ts');
    writeFileSync(file, source);
    const program = ts.createProgram([file], { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, skipLibCheck: true, types: [], lib: ['lib.es2022.d.ts'] });
    return ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === file).map((d) => ({
      line: d.file!.getLineAndCharacterOfPosition(d.start ?? 0).line + 1,
      text: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const FIXTURE = `import { REPLY_TO, type FromWebview, type HostEvent, type MessageHandlers, type Reply, type Request } from ${JSON.stringify(PROTOCOL)};
declare const host: MessageHandlers<FromWebview>;
declare const view: MessageHandlers<HostEvent>;
export const hostOk = { ...host } satisfies MessageHandlers<FromWebview>;
export const viewOk = { ...view } satisfies MessageHandlers<HostEvent>;
export const repliesOk = { ...REPLY_TO } satisfies Record<Request['type'], Reply['type']>;
export const hostMissing = { ...host } satisfies MessageHandlers<FromWebview | { type: 'brandNewRequest'; x: number }>;
export const viewMissing = { ...view } satisfies MessageHandlers<HostEvent | { type: 'brandNewEvent' }>;
export const replyMissing = { ...REPLY_TO } satisfies Record<Request['type'] | 'brandNewAsk', Reply['type']>;
`;

test('a message without a handler, or a request without a reply, fails to compile', () => {
  const d = diagnostics(FIXTURE);
  const at = (line: number) => d.filter((x) => x.line === line);
  // The tables as they are compile (the protocol and its handler types have no error of their own)…
  for (const line of [1, 2, 3, 4, 5, 6]) assert.deepEqual(at(line), [], `line ${line}: ${JSON.stringify(at(line))}`);
  // …and each one with a message it does not handle does not, naming the message.
  assert.match(at(7).map((x) => x.text).join('\n'), /brandNewRequest/);
  assert.match(at(8).map((x) => x.text).join('\n'), /brandNewEvent/);
  assert.match(at(9).map((x) => x.text).join('\n'), /brandNewAsk/);
  assert.equal(d.length, 3, JSON.stringify(d));
});

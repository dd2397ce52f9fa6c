/**
 * SQLite in WebAssembly (sql.js): one build for every platform, no native module. The .wasm file is
 * looked up beside the running bundle (dist/sql-wasm.wasm, copied there by esbuild.mjs) and otherwise
 * in node_modules (tests and tools running from source).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import initSqlJs, { type SqlJsStatic } from 'sql.js';
import { EngineError } from '../errors';

let sql: Promise<SqlJsStatic> | undefined;

function wasmPath(): string {
  const here = join(__dirname, 'sql-wasm.wasm');
  if (existsSync(here)) return here;
  try {
    return require.resolve('sql.js/dist/sql-wasm.wasm');
  } catch {
    throw new EngineError('INTERNAL', `sql-wasm.wasm was not found beside ${__dirname} or in node_modules/sql.js.`, 'Rebuild with `npm run build`.');
  }
}

export function sqlite(): Promise<SqlJsStatic> {
  sql ??= initSqlJs({ locateFile: () => wasmPath() });
  return sql;
}

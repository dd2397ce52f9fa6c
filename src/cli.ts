/**
 * `circuit-inspector <command> [options]`: the headless entry point (the package's bin, built to
 * dist/cli.js). The commands and their exit codes are in src/cli/main.ts.
 *
 * onnxruntime-node crashes (SIGSEGV) creating a session in a process whose command line is longer
 * than about 28,000 characters, whatever the arguments are. A legitimate command line can be that
 * long (8,000 token ids, a long prompt), so such a command re-runs itself with a short command line
 * and receives its arguments through a pipe.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { runCli } from './cli/main';
import { processIO } from './cli/io';

/** Command lines longer than this (in UTF-8 bytes, all arguments) are handed over through a pipe. */
const MAX_DIRECT_ARGV_BYTES = 16 * 1024;
const ARGV_FD_ENV = 'CIRCUIT_INSPECTOR_ARGV_FD';

function argvBytes(args: string[]): number {
  return process.argv.slice(0, 2).concat(args).reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
}

function relaunch(args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1]], {
      stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
      env: { ...process.env, [ARGV_FD_ENV]: '3' },
    });
    const pipe = child.stdio[3] as NodeJS.WritableStream;
    pipe.on('error', () => {});
    pipe.end(JSON.stringify(args));
    child.on('error', (e) => {
      process.stderr.write(`internal error: could not restart with a long command line: ${e.message}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main(): Promise<number> {
  if (process.env[ARGV_FD_ENV]) {
    const fd = Number(process.env[ARGV_FD_ENV]);
    delete process.env[ARGV_FD_ENV];
    const args = JSON.parse(readFileSync(fd, 'utf8')) as string[];
    return runCli(args, processIO);
  }
  const args = process.argv.slice(2);
  if (argvBytes(args) > MAX_DIRECT_ARGV_BYTES) return relaunch(args);
  return runCli(args, processIO);
}

// `circuit-inspector … | head`: the reader left, so there is no one to write for; stop quietly, as
// Unix tools do, instead of an EPIPE stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);

/**
 * The CLI as a function: `runCli(argv, io)` parses the command line, runs one subcommand and returns
 * the exit code, with every message written through `io`. src/cli.ts calls it for the real process;
 * the bad-input corpus (test/unit/cli/bad-input.test.ts) calls it in-process hundreds of times.
 *
 * Exit codes: 0 success; 2 a user error — a bad command line, an EngineError (message and hint), or a
 * file-system error on a path the user gave (one sentence naming the path); 1 an unexpected failure
 * (stack shown only with CIRCUIT_INSPECTOR_DEBUG=1).
 */
import { isEngineError } from '../engine/errors';
import { fsErrorMessage } from '../engine/fs-errors';
import { UsageError, type CliCommand } from './args';
import type { CliIO } from './io';
import * as analyze from './analyze';
import * as compareCmd from './compare';
import * as dashboards from './dashboards';
import * as feature from './feature';
import * as decompositionsCmd from './decompositions';
import * as forward from './forward';
import * as interveneCmd from './intervene';
import * as verifyCmd from './verify';
import * as testCmd from './test';
import * as qkCmd from './qk';
import * as groundtruth from './groundtruth';
import * as twoHop from './two-hop';
import * as batchCmd from './batch';

/** Subcommands: one module each under src/cli/, exporting `command`. A Map: "constructor" is no command. */
const COMMANDS = new Map<string, CliCommand>([
  ['forward', forward.command],
  ['analyze', analyze.command],
  ['intervene', interveneCmd.command],
  ['verify', verifyCmd.command],
  ['test', testCmd.command],
  ['batch', batchCmd.command],
  ['compare', compareCmd.command],
  ['feature', feature.command],
  ['dashboards', dashboards.command],
  ['decompositions', decompositionsCmd.command],
  ['qk', qkCmd.command],
  ['groundtruth', groundtruth.command],
  ['two-hop', twoHop.command],
]);

function help(): string {
  return [
    'Usage: circuit-inspector <command> [options]',
    '',
    'Commands:',
    ...[...COMMANDS.keys()].map((c) => `  ${c}`),
    '',
    'Run `circuit-inspector <command> --help` for a command\'s options.',
  ].join('\n');
}

export async function runCli(argv: string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    (name ? io.out : io.err)(help());
    return name ? 0 : 2;
  }
  const command = COMMANDS.get(name);
  if (!command) {
    io.err(`circuit-inspector: unknown command ${JSON.stringify(name)}.\n\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(`${command.summary}\n\n${command.usage}`);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`circuit-inspector ${name}: ${e.message}\n\n${command.usage}`);
      return 2;
    }
    if (isEngineError(e)) {
      io.err(`error: ${e.message}`);
      if (e.hint) io.err(`hint: ${e.hint}`);
      return 2;
    }
    const fs = fsErrorMessage(e);
    if (fs) {
      io.err(`error: ${fs}`);
      return 2;
    }
    io.err(`internal error: ${e instanceof Error ? e.message : String(e)}`);
    if (process.env.CIRCUIT_INSPECTOR_DEBUG && e instanceof Error && e.stack) io.err(e.stack);
    return 1;
  }
}

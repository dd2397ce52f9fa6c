/**
 * `circuit-inspector <command> [options]`: the headless entry point (the package's bin, built to
 * dist/cli.js). Each command lives in src/cli/<command>.ts and is listed in COMMANDS.
 *
 * Exit codes: 0 success, 2 a usage error or an EngineError (message and hint, no stack trace),
 * 1 an unexpected failure (stack shown only with CIRCUIT_INSPECTOR_DEBUG=1).
 */
import { isEngineError } from './engine/errors';
import { UsageError, type CliCommand } from './cli/args';
import * as analyze from './cli/analyze';
import * as compareCmd from './cli/compare';
import * as dashboards from './cli/dashboards';
import * as feature from './cli/feature';
import * as decompositionsCmd from './cli/decompositions';
import * as forward from './cli/forward';
import * as groundtruth from './cli/groundtruth';
import * as interveneCmd from './cli/intervene';
import * as verifyCmd from './cli/verify';
import * as testCmd from './cli/test';
import * as qkCmd from './cli/qk';
import * as batchCmd from './cli/batch';

/** Subcommands: one module each under src/cli/, exporting `command`. */
const COMMANDS: Record<string, CliCommand> = {
  forward: forward.command,
  analyze: analyze.command,
  intervene: interveneCmd.command,
  verify: verifyCmd.command,
  test: testCmd.command,
  batch: batchCmd.command,
  compare: compareCmd.command,
  feature: feature.command,
  dashboards: dashboards.command,
  decompositions: decompositionsCmd.command,
  qk: qkCmd.command,
  groundtruth: groundtruth.command,
};

function help(): string {
  return [
    'Usage: circuit-inspector <command> [options]',
    '',
    'Commands:',
    ...Object.keys(COMMANDS).map((c) => `  ${c}`),
    '',
    'Run `circuit-inspector <command> --help` for a command\'s options.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`circuit-inspector: unknown command "${name}".\n\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`${command.summary}\n\n${command.usage}`);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`circuit-inspector ${name}: ${e.message}\n\n${command.usage}`);
      return 2;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (isEngineError(e)) {
      console.error(`error: ${e.message}`);
      if (e.hint) console.error(`hint: ${e.hint}`);
      process.exitCode = 2;
      return;
    }
    console.error(`internal error: ${e instanceof Error ? e.message : String(e)}`);
    if (process.env.CIRCUIT_INSPECTOR_DEBUG && e instanceof Error) console.error(e.stack);
    process.exitCode = 1;
  },
);

#!/usr/bin/env node
/**
 * `flow-collector` command line: a small dispatcher. Each subcommand lives in its own module
 * and returns the process exit code; this file only picks the command and handles --help and
 * --version.
 *
 * Exit codes (all commands): 0 success, 1 a runtime failure (e.g. an unreadable input file),
 * 2 bad arguments.
 */
import { readFileSync } from 'node:fs';
import { runDecode, DECODE_USAGE, DECODE_SUMMARY } from './decode.js';
import { runServe, SERVE_USAGE, SERVE_SUMMARY } from './serve.js';
import { runBlastCli, BLAST_USAGE, BLAST_SUMMARY } from '../blast/mod.js';

interface Command {
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  serve: { summary: SERVE_SUMMARY, usage: SERVE_USAGE, run: runServe },
  decode: { summary: DECODE_SUMMARY, usage: DECODE_USAGE, run: runDecode },
  blast: { summary: BLAST_SUMMARY, usage: BLAST_USAGE, run: runBlastCli },
};

export const MAIN_USAGE = `Usage: flow-collector <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)}${c.summary}`)
  .join('\n')}

Options:
  -h, --help      show this help (or "flow-collector <command> --help")
  -V, --version   print the version

Exit codes: 0 success, 1 runtime failure (e.g. an unreadable file), 2 bad arguments.
`;

function version(): string {
  // dist/src/cli/main.js and src/cli/main.ts are both three levels below the package root.
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

export async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first === undefined) {
    process.stderr.write(`flow-collector: no command given; name one of: ${Object.keys(COMMANDS).join(', ')}\n\n${MAIN_USAGE}`);
    return 2;
  }
  if (first === '-h' || first === '--help' || first === 'help') {
    const sub = first === 'help' ? argv[1] : undefined;
    const cmd = sub !== undefined ? COMMANDS[sub] : undefined;
    process.stdout.write(cmd !== undefined ? cmd.usage : MAIN_USAGE);
    return 0;
  }
  if (first === '-V' || first === '--version') {
    process.stdout.write(`flow-collector ${version()}\n`);
    return 0;
  }
  const cmd = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
  if (cmd === undefined) {
    const what = first.startsWith('-') ? `unknown option "${first}"` : `unknown command "${first}"`;
    process.stderr.write(`flow-collector: ${what}; use one of the commands: ${Object.keys(COMMANDS).join(', ')}\n\n${MAIN_USAGE}`);
    return 2;
  }
  return cmd.run(argv.slice(1));
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`flow-collector: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);

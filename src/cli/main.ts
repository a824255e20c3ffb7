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

interface Command {
  summary: string;
  /**
   * The command's module, imported only when the command runs or its usage is asked for: `serve`
   * pulls in the service, the NATS client, the metrics and the logger (about half a second of
   * module loading on a development VM), which `decode` and `blast` never use.
   */
  load(): Promise<{ usage: string; run(argv: string[]): Promise<number> }>;
}

const COMMANDS: Record<string, Command> = {
  serve: {
    summary: 'run the collector: receive NetFlow/IPFIX/sFlow on UDP, decode, write flows',
    load: () => import('./serve.js').then((m) => ({ usage: m.SERVE_USAGE, run: m.runServe })),
  },
  decode: {
    summary: 'decode pcap, pcapng and raw .dat files and print the flows',
    load: () => import('./decode.js').then((m) => ({ usage: m.DECODE_USAGE, run: m.runDecode })),
  },
  blast: {
    summary: 'send NetFlow/IPFIX/sFlow at a target rate (load generator)',
    load: () => import('../blast/mod.js').then((m) => ({ usage: m.BLAST_USAGE, run: m.runBlastCli })),
  },
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
    const cmd = sub !== undefined && Object.hasOwn(COMMANDS, sub) ? COMMANDS[sub] : undefined;
    process.stdout.write(cmd !== undefined ? (await cmd.load()).usage : MAIN_USAGE);
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
  return (await cmd.load()).run(argv.slice(1));
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

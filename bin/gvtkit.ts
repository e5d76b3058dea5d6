#!/usr/bin/env node
/**
 * The `gvtkit` command line. Subcommands are a table: name → module → entry point, so each lives
 * in lib/cli/ and bin/ holds no model logic.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  readFile: (path: string) => Uint8Array;
  writeFile: (path: string, data: string | Uint8Array) => void;
}

type Entry = (argv: string[], io: Io) => Promise<number>;

const SUBCOMMANDS: Record<string, { summary: string; load: () => Promise<Entry> }> = {
  demo: { summary: 'run the demo on the embedded defaults', load: async () => (await import('../lib/cli/demo.js')).demoCommand },
  decode: {
    summary: 'decode raw Gen9 command buffers: decode FILE... [--engine rcs|bcs|vcs|vecs] [--json]',
    load: async () => (await import('../lib/cli/decode.js')).decodeCommand,
  },
  sim: {
    summary: 'run a scenario of vGPUs with workloads: sim SCENARIO.json [--mode M|all] [--json] [--out DIR]; sim --sweep FILE...',
    load: async () => (await import('../lib/cli/sim.js')).simCommand as Entry,
  },
  balloon: {
    summary: 'graphics-memory partition map and ballooning sweeps: balloon [--type T --count N]... [--sweep] [--svg FILE] [--json]',
    load: async () => (await import('../lib/cli/balloon.js')).balloonCommand as Entry,
  },
};

function usage(): string {
  const lines = ['usage: gvtkit <command> [options]', '', 'commands:'];
  for (const [name, s] of Object.entries(SUBCOMMANDS)) lines.push(`  ${name.padEnd(9)} ${s.summary}`);
  return lines.join('\n');
}

// A closed pipe (`gvtkit decode ... | head`) ends the program quietly, as Unix tools do.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

async function main(): Promise<number> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(usage());
    return cmd ? 0 : 2;
  }
  const sub = SUBCOMMANDS[cmd];
  if (!sub) {
    console.error(`gvtkit: unknown command '${cmd}'\n${usage()}`);
    return 2;
  }
  const io: Io = {
    out: (line) => process.stdout.write(line + '\n'),
    err: (line) => process.stderr.write(line + '\n'),
    readFile: (path) => new Uint8Array(readFileSync(path)),
    writeFile: (path, data) => {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, data);
    },
  };
  const entry = await sub.load();
  return entry(rest, io);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e instanceof Error ? `gvtkit: ${e.message}` : e);
    process.exitCode = 2;
  },
);

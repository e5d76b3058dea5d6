/**
 * `gvtkit decode FILE... [--engine rcs|bcs|vcs|vecs] [--json]`: decode raw little-endian Gen9
 * command buffers, each file on its own, header to header.
 *
 * Text output: one line per command (byte offset, name, length, dwords in hex). `--json`: one
 * JSON object per line, `{"file","offset","name","length","fields"?}`, every key camelCase (the
 * fields' too: table address fields are keyed by `fieldKey`, e.g. `generalStateBaseAddress`); an unknown header prints
 * `{"file","offset","error":"UNKNOWN_COMMAND","header"}` and the walk goes on with the command
 * type's generic length where it has one (else stops); a command that runs past the end of the
 * file (or a tail shorter than a dword) prints the same with `"error":"TRUNCATED"` and stops.
 *
 * Exit status: 0 when every command of every file decoded, 1 otherwise, 2 for usage errors.
 */
import {
  CommandDecoder,
  COMMANDS,
  DecodeError,
  decodeFields,
  ENGINE_CLASS_NAMES,
  parseEngineClass,
  type EngineClass,
} from '../device/commands/index.js';
import { EngineClass as Engines } from '../device/commands/engines.js';

/** What the command needs from its host (the `gvtkit` binary passes the real ones). */
export interface DecodeIo {
  out: (line: string) => void;
  err: (line: string) => void;
  readFile: (path: string) => Uint8Array;
}

const USAGE = 'usage: gvtkit decode FILE... [--engine rcs|bcs|vcs|vecs] [--json]';
/** Dwords shown per command in the text listing before eliding. */
const TEXT_DWORDS = 8;

function hex32(v: number): string {
  return (v >>> 0).toString(16).padStart(8, '0');
}

/** Little-endian dwords of a byte buffer (the whole dwords), and the number of tail bytes. */
function toDwords(bytes: Uint8Array): { dwords: Uint32Array; tail: number } {
  const n = bytes.length >>> 2;
  const dwords = new Uint32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let k = 0; k < n; k++) dwords[k] = view.getUint32(k * 4, true);
  return { dwords, tail: bytes.length & 3 };
}

function tailHeader(bytes: Uint8Array): number {
  let v = 0;
  const start = bytes.length & ~3;
  for (let k = bytes.length - 1; k >= start; k--) v = (v << 8) | bytes[k];
  return v >>> 0;
}

/** Decode one file; returns true when every command decoded. */
function decodeFile(path: string, bytes: Uint8Array, engine: EngineClass, json: boolean, io: DecodeIo): boolean {
  const { dwords, tail } = toDwords(bytes);
  const d = new CommandDecoder();
  const end = dwords.length;
  let ok = true;
  const problem = (offset: number, error: string, header: number): void => {
    ok = false;
    if (json) io.out(JSON.stringify({ file: path, offset, error, header: '0x' + hex32(header) }));
    else io.out(`${path}:0x${offset.toString(16).padStart(6, '0')}  ${error.padEnd(28)} header ${hex32(header)}`);
  };
  let i = 0;
  while (i < end) {
    const len = d.decode(dwords, i, end, engine);
    const offset = i * 4;
    if (d.error === DecodeError.UNKNOWN_COMMAND) {
      problem(offset, 'UNKNOWN_COMMAND', dwords[i]);
      if (len === 0) return false; // no generic length: the stream cannot be followed
      i += len;
      continue;
    }
    if (d.error === DecodeError.TRUNCATED) {
      problem(offset, 'TRUNCATED', dwords[i]);
      return false;
    }
    const name = COMMANDS[d.id].name;
    if (json) {
      const fields = decodeFields(dwords, i, d.id);
      const row: Record<string, unknown> = { file: path, offset, name, length: len };
      if (Object.keys(fields).length) row.fields = fields;
      io.out(JSON.stringify(row));
    } else {
      const shown: string[] = [];
      for (let k = 0; k < Math.min(len, TEXT_DWORDS); k++) shown.push(hex32(dwords[i + k]));
      io.out(`${path}:0x${offset.toString(16).padStart(6, '0')}  ${name.padEnd(28)} len ${String(len).padStart(3)}  ${shown.join(' ')}${len > TEXT_DWORDS ? ' ...' : ''}`);
    }
    i += len;
  }
  if (tail && i === end) problem(end * 4, 'TRUNCATED', tailHeader(bytes));
  return ok && tail === 0;
}

/** Entry point of `gvtkit decode`; returns the exit status. */
export async function decodeCommand(argv: string[], io: DecodeIo): Promise<number> {
  const files: string[] = [];
  let engine: EngineClass = Engines.RCS;
  let json = false;
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k];
    if (a === '--json') json = true;
    else if (a === '--engine' || a.startsWith('--engine=')) {
      const v = a === '--engine' ? argv[++k] : a.slice('--engine='.length);
      const e = v === undefined ? undefined : parseEngineClass(v);
      if (e === undefined) {
        io.err(`gvtkit decode: --engine wants one of ${ENGINE_CLASS_NAMES.join(', ')}${v === undefined ? '' : `, not '${v}'`}`);
        io.err(USAGE);
        return 2;
      }
      engine = e;
    } else if (a === '--help' || a === '-h') {
      io.out(USAGE);
      return 0;
    } else if (a.startsWith('-') && a !== '-') {
      io.err(`gvtkit decode: unknown option '${a}'`);
      io.err(USAGE);
      return 2;
    } else files.push(a);
  }
  if (!files.length) {
    io.err('gvtkit decode: no input file');
    io.err(USAGE);
    return 2;
  }
  let status = 0;
  for (const path of files) {
    let bytes: Uint8Array;
    try {
      bytes = io.readFile(path);
    } catch (e) {
      io.err(`gvtkit decode: cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`);
      status = 1;
      continue;
    }
    if (!decodeFile(path, bytes, engine, json, io)) status = 1;
  }
  return status;
}

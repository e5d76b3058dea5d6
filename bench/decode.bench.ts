/**
 * `decode.3d`: MiB/s walking the 3d-frame fixture header to header with `CommandDecoder`, against
 * a plain sequential read (sum) of every dword of the same buffer. The decoder touches only
 * headers, so a ratio >= 1 says the dispatch costs less than reading the commands' bodies would.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandDecoder, DecodeError, EngineClass } from '../lib/device/commands/index.js';
import type { BenchCase } from './harness.js';

function loadFixture(name: string): Uint32Array {
  // Compiled to dist/bench/: the fixtures sit two levels up.
  const here = dirname(fileURLToPath(import.meta.url));
  const bytes = readFileSync(join(here, '..', '..', 'fixtures', 'streams', name));
  const dwords = new Uint32Array(bytes.length >>> 2);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let k = 0; k < dwords.length; k++) dwords[k] = view.getUint32(k * 4, true);
  return dwords;
}

export function cases(): BenchCase[] {
  const buf = loadFixture('3d-frame.bin');
  const end = buf.length;
  const mib = (end * 4) / (1024 * 1024);
  const d = new CommandDecoder();
  const RCS = EngineClass.RCS;
  const OK = DecodeError.OK;
  let sink = 0;
  return [
    {
      name: 'decode.3d',
      unit: 'MiB',
      unitsPerCall: mib,
      target: 1.0,
      // Both loops copy the closure's bindings (and the imported constants, which V8 reloads
      // through the module binding on every use) into locals first.
      fn: () => {
        const b = buf, n = end, dec = d, rcs = RCS, ok = OK;
        let i = 0;
        let count = 0;
        while (i < n) {
          const len = dec.decode(b, i, n, rcs);
          if (dec.error !== ok) throw new Error(`decode.3d: error ${dec.error} at dword ${i}`);
          i += len;
          count++;
        }
        sink ^= count;
      },
      baseline: () => {
        const b = buf, n = end;
        let acc = 0;
        for (let i = 0; i < n; i++) acc = (acc + b[i]) | 0;
        sink ^= acc;
      },
    },
  ];
}

/**
 * `decode.3d`: MiB/s walking the 3d-frame fixture header to header with `CommandDecoder`, against
 * a plain sequential read (sum) of every dword of the same buffer. The decoder touches only
 * headers, so a ratio >= 1 says the dispatch costs less than reading the commands' bodies would.
 */
import { CommandDecoder, DecodeError, EngineClass } from '../lib/device/commands/index.js';
import { loadFixture, type BenchCase } from './harness.js';

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

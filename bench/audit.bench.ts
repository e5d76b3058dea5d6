/**
 * `audit.3d`: MiB/s of a full audit + shadow of the 3d-frame fixture (copy page by page into the
 * shadow, decode, audit every command, patch) against the plain header-to-header
 * `CommandDecoder` walk of the same stream, in the same run. The fixture sits in a fake
 * environment as a PPGTT batch started from a two-command ring, in a PPGTT context, as a guest's
 * render batch would. Target ratio >= 0.5: auditing and shadowing keep at least half the speed of
 * decoding alone.
 */
import { CommandDecoder, DecodeError, EngineClass, miBatchBufferStart } from '../lib/device/commands/index.js';
import { GEN9_ENGINES, type EngineInfo } from '../lib/device/engines.js';
import { defaultRegisterAllowed } from '../lib/mediator/audit-rules.js';
import { CommandParser, type AuditEnv, type RingSegment } from '../lib/mediator/parser.js';
import { loadFixture, type BenchCase } from './harness.js';

const RING_BASE = 0x0400_0000;
const BATCH = 0x1_0000_0000;

/** Flat memory: the ring page in the GGTT, the batch in the PPGTT, identity translation. */
class BenchEnv implements AuditEnv {
  readonly engine: EngineInfo = GEN9_ENGINES[0];
  readonly contextPpgtt = true;
  constructor(private readonly ring: Uint32Array, private readonly batch: Uint32Array) {}
  readGgtt(gma: number, dst: Uint32Array, at: number, n: number): boolean {
    const k = (gma - RING_BASE) >>> 2;
    if (gma < RING_BASE || k + n > this.ring.length) return false;
    dst.set(this.ring.subarray(k, k + n), at);
    return true;
  }
  readPpgtt(gma: number, dst: Uint32Array, at: number, n: number): boolean {
    const k = (gma - BATCH) / 4;
    if (gma < BATCH || k + n > this.batch.length) return false;
    dst.set(this.batch.subarray(k, k + n), at);
    return true;
  }
  ggttAddressOk(gma: number, bytes: number): boolean {
    return gma >= RING_BASE && gma + bytes <= RING_BASE + 64 * 1024 * 1024;
  }
  translateGgtt(gma: number): number {
    return gma;
  }
  // The fixture's context setup writes 0x20d8, which GVT-g marks command-accessible on BXT only.
  registerAllowed(offset: number, engine: EngineInfo): boolean {
    return defaultRegisterAllowed(offset, engine) || offset === 0x20d8;
  }
}

export function cases(): BenchCase[] {
  const stream = loadFixture('3d-frame.bin');
  // The batch padded to whole pages (guest memory around it is mapped).
  const batch = new Uint32Array(Math.ceil(stream.length / 1024) * 1024);
  batch.set(stream);
  const ring = new Uint32Array(1024);
  ring.set([...miBatchBufferStart(BATCH, { ppgtt: true }), 0]);
  const segment: RingSegment = { base: RING_BASE, size: 4096, head: 0, tail: 16 };
  const env = new BenchEnv(ring, batch);
  const parser = new CommandParser();
  const first = parser.scan(segment, env);
  if (!first.ok) throw new Error(`audit.3d: the fixture is refused: ${first.violation!.message}`);
  const mib = (stream.length * 4) / (1024 * 1024);
  const d = new CommandDecoder();
  const RCS = EngineClass.RCS;
  const OK = DecodeError.OK;
  const end = stream.length;
  let sink = 0;
  return [
    {
      name: 'audit.3d',
      unit: 'MiB',
      unitsPerCall: mib,
      target: 0.5,
      fn: () => {
        const r = parser.scan(segment, env);
        if (!r.ok) throw new Error('audit.3d: refused');
        sink ^= r.commands;
      },
      baseline: () => {
        const b = stream, n = end, dec = d, rcs = RCS, ok = OK;
        let i = 0;
        let count = 0;
        while (i < n) {
          const len = dec.decode(b, i, n, rcs);
          if (dec.error !== ok) break; // the trailing MI_NOOP after MI_BATCH_BUFFER_END decodes too
          i += len;
          count++;
        }
        sink ^= count;
      },
    },
  ];
}

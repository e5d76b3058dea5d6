import t from 'tap';
import { decodeCommand } from '../lib/cli/decode.js';
import {
  encodeByName,
  miBatchBufferEnd,
  miLoadRegisterImm,
  miNoop,
  pipeControl,
  PostSyncOp,
  toCommandBuffer,
  xyColorBlt,
} from '../lib/device/commands/index.js';

function bytesOf(dwords: Uint32Array): Uint8Array {
  const out = new Uint8Array(dwords.length * 4);
  const view = new DataView(out.buffer);
  dwords.forEach((v, k) => view.setUint32(k * 4, v, true));
  return out;
}

async function run(argv: string[], files: Record<string, Uint8Array>) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await decodeCommand(argv, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    readFile: (p) => {
      const f = files[p];
      if (!f) throw new Error(`ENOENT: ${p}`);
      return f;
    },
  });
  return { code, out, err, json: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const render = bytesOf(toCommandBuffer(
  miLoadRegisterImm([[0x2094, 7]]),
  pipeControl({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: 0x1000, data: 5 }),
  encodeByName('3DPRIMITIVE', [4, 3, 0, 1, 0, 0]),
  miBatchBufferEnd(),
  miNoop(),
));

t.test('--json: one object per command', async (t) => {
  const r = await run(['a.bin', '--json'], { 'a.bin': render });
  t.equal(r.code, 0);
  t.same(r.err, []);
  const rows = r.json();
  t.same(rows.map((o) => [o.file, o.offset, o.name, o.length]), [
    ['a.bin', 0, 'MI_LOAD_REGISTER_IMM', 3],
    ['a.bin', 12, 'PIPE_CONTROL', 6],
    ['a.bin', 36, '3DPRIMITIVE', 7],
    ['a.bin', 64, 'MI_BATCH_BUFFER_END', 1],
    ['a.bin', 68, 'MI_NOOP', 1],
  ]);
  t.same(rows[0].fields, { byteWriteDisables: 0, pairs: [{ offset: 0x2094, value: 7 }] });
  t.match(rows[1].fields, { postSyncOp: 1, address: 0x1000, data: 5 });
  t.match(rows[2].fields, { topology: 4, vertexCount: 3 });
  t.notOk('fields' in rows[3], 'no fields key when nothing is decoded');
});

t.test('text listing', async (t) => {
  const r = await run(['a.bin'], { 'a.bin': render });
  t.equal(r.code, 0);
  t.equal(r.out.length, 5);
  t.match(r.out[0], /^a\.bin:0x000000\s+MI_LOAD_REGISTER_IMM\s+len\s+3\s+11000001 00002094 00000007$/);
  t.match(r.out[1], /0x00000c\s+PIPE_CONTROL\s+len\s+6\s+7a000004/);
});

t.test('engine selection changes the decode', async (t) => {
  const blit = bytesOf(toCommandBuffer(xyColorBlt({ dstAddress: 0x1000, dstPitch: 64, dst: { x1: 0, y1: 0, x2: 4, y2: 4 }, color: 1 }), miBatchBufferEnd()));
  const ok = await run(['--engine', 'bcs', '--json', 'b.bin'], { 'b.bin': blit });
  t.equal(ok.code, 0);
  t.same(ok.json().map((o) => o.name), ['XY_COLOR_BLT', 'MI_BATCH_BUFFER_END']);
  const wrong = await run(['--json', 'b.bin'], { 'b.bin': blit });
  t.equal(wrong.code, 1, 'XY_COLOR_BLT is unknown on rcs');
  const rows = wrong.json();
  t.same(rows[0], { file: 'b.bin', offset: 0, error: 'UNKNOWN_COMMAND', header: '0x54300005' });
  t.same(rows[1], { file: 'b.bin', offset: 28, name: 'MI_BATCH_BUFFER_END', length: 1 }, 'the walk goes on with the generic 2D length');
  const eq = await run(['--engine=bcs', 'b.bin'], { 'b.bin': blit });
  t.equal(eq.code, 0, '--engine=NAME works too');
});

t.test('unknown commands: generic length, or stop', async (t) => {
  // MI opcode 0x06 (MI_RS_CONTROL) exists on RCS only: on BCS it is an unknown single-dword MI header.
  const mixed = bytesOf(Uint32Array.from([0x06 << 23, ...miNoop(), 0x20000000, ...miNoop()]));
  const r = await run(['--engine', 'bcs', '--json', 'm.bin'], { 'm.bin': mixed });
  t.equal(r.code, 1);
  t.same(r.json(), [
    { file: 'm.bin', offset: 0, error: 'UNKNOWN_COMMAND', header: '0x03000000' },
    { file: 'm.bin', offset: 4, name: 'MI_NOOP', length: 1, fields: { identificationNumber: 0, identificationNumberWrite: false } },
    { file: 'm.bin', offset: 8, error: 'UNKNOWN_COMMAND', header: '0x20000000' },
  ], 'type 1 has no generic length: the walk stops');
});

t.test('truncation', async (t) => {
  const cut = bytesOf(toCommandBuffer(miNoop(), pipeControl()).subarray(0, 4));
  const r = await run(['--json', 'c.bin'], { 'c.bin': cut });
  t.equal(r.code, 1);
  t.same(r.json()[1], { file: 'c.bin', offset: 4, error: 'TRUNCATED', header: '0x7a000004' });
  t.equal(r.out.length, 2, 'stops at the truncated command');

  const ragged = new Uint8Array([0, 0, 0, 0, 0x05, 0x00]);
  const g = await run(['--json', 'r.bin'], { 'r.bin': ragged });
  t.equal(g.code, 1);
  t.same(g.json(), [
    { file: 'r.bin', offset: 0, name: 'MI_NOOP', length: 1, fields: { identificationNumber: 0, identificationNumberWrite: false } },
    { file: 'r.bin', offset: 4, error: 'TRUNCATED', header: '0x00000005' },
  ], 'a size that is not a multiple of 4 is truncated at the tail');
  const empty = await run(['e.bin'], { 'e.bin': new Uint8Array(0) });
  t.equal(empty.code, 0, 'an empty file has no command to fail');
});

t.test('several files, each on its own', async (t) => {
  const bad = bytesOf(Uint32Array.from([0xe0000000]));
  const r = await run(['--json', 'a.bin', 'bad.bin', 'a.bin'], { 'a.bin': render, 'bad.bin': bad });
  t.equal(r.code, 1);
  const files = r.json().map((o) => o.file);
  t.same(files, ['a.bin', 'a.bin', 'a.bin', 'a.bin', 'a.bin', 'bad.bin', 'a.bin', 'a.bin', 'a.bin', 'a.bin', 'a.bin']);
  const missing = await run(['nope.bin', 'a.bin'], { 'a.bin': render });
  t.equal(missing.code, 1);
  t.match(missing.err[0], /cannot read nope\.bin/);
  t.equal(missing.out.length, 5, 'the readable file is still decoded');
});

t.test('usage errors', async (t) => {
  for (const argv of [[], ['--engine', 'gpu', 'a.bin'], ['--engine'], ['--frobnicate', 'a.bin']]) {
    const r = await run(argv, { 'a.bin': render });
    t.equal(r.code, 2, JSON.stringify(argv));
    t.match(r.err.join('\n'), /usage: gvtkit decode/);
  }
  const help = await run(['--help'], {});
  t.equal(help.code, 0);
  t.match(help.out[0], /usage/);
});

t.test('--json: one key style (camelCase) for every key, table address fields included', async (t) => {
  const sba = new Array(18).fill(0);
  sba[0] = 0x1000 | 1;
  const buf = bytesOf(toCommandBuffer(
    encodeByName('STATE_BASE_ADDRESS', sba),
    encodeByName('3DSTATE_VERTEX_BUFFERS', [0, 0x100, 0, 64]),
    encodeByName('3DSTATE_CONSTANT_VS', [0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0]),
    pipeControl({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: 0x1000, data: 5 }),
    miBatchBufferEnd(),
  ));
  const r = await run(['--json', 's.bin'], { 's.bin': buf });
  t.equal(r.code, 0, r.out.join('\n'));
  const keys: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        keys.push(k);
        walk(x);
      }
    }
  };
  r.json().forEach(walk);
  t.ok(keys.length > 20, `${keys.length} keys`);
  for (const k of keys) t.match(k, /^[a-z][a-zA-Z0-9]*$/, `key ${JSON.stringify(k)} is camelCase`);
  const rows = r.json();
  t.equal((rows[0].fields as Record<string, number>).generalStateBaseAddress, 0x1000);
  t.same((rows[1].fields as Record<string, number[]>).bufferStartingAddress, [0x100]);
  t.equal((rows[2].fields as Record<string, number>).buffer0, 0x40);
});

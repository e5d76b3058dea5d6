import t from 'tap';
import fc from 'fast-check';
import {
  CommandDecoder,
  commandName,
  COMMANDS,
  DecodeError,
  decodeFields,
  encodeByName,
  encodeHeader,
  EngineClass,
  findCommand,
  miArbCheck,
  miBatchBufferEnd,
  miBatchBufferStart,
  miFlushDw,
  miLoadRegisterImm,
  miLoadRegisterMem,
  miLoadRegisterReg,
  miNoop,
  miStoreDataImm,
  miStoreRegisterMem,
  miUserInterrupt,
  pipeControl,
  PostSyncOp,
  toCommandBuffer,
  xyColorBlt,
  xySrcCopyBlt,
  type EngineClass as Engine,
} from '../lib/device/commands/index.js';

/** Decode one encoded command and return its name, length and fields. */
function roundTrip(cmd: number[], engine: Engine = EngineClass.RCS) {
  const buf = Uint32Array.from(cmd);
  const d = new CommandDecoder();
  const len = d.decode(buf, 0, buf.length, engine);
  if (d.error !== DecodeError.OK) throw new Error(`decode error ${d.error} for ${cmd[0].toString(16)}`);
  return { name: commandName(d.id), len, fields: decodeFields(buf, 0, d.id) };
}

const address48 = fc.integer({ min: 0, max: 2 ** 46 - 1 }).map((n) => n * 4); // dword aligned, below 2^48

t.test('single-dword MI commands', async (t) => {
  t.same(miNoop(), [0]);
  t.same(roundTrip(miNoop()), { name: 'MI_NOOP', len: 1, fields: { identificationNumber: 0, identificationNumberWrite: false } });
  t.same(roundTrip(miNoop(0x1234)).fields, { identificationNumber: 0x1234, identificationNumberWrite: true });
  t.same(miBatchBufferEnd(), [0x05000000]);
  t.same(roundTrip(miBatchBufferEnd()), { name: 'MI_BATCH_BUFFER_END', len: 1, fields: {} });
  t.same(miUserInterrupt(), [0x01000000]);
  t.same(roundTrip(miUserInterrupt()).name, 'MI_USER_INTERRUPT');
  t.same(miArbCheck(), [0x02800000]);
  t.same(roundTrip(miArbCheck()).name, 'MI_ARB_CHECK');
});

t.test('MI_BATCH_BUFFER_START', async (t) => {
  t.same(miBatchBufferStart(0x1000), [0x18800001, 0x1000, 0]);
  fc.assert(
    fc.property(address48, fc.boolean(), fc.boolean(), (address, ppgtt, secondLevel) => {
      const r = roundTrip(miBatchBufferStart(address, { ppgtt, secondLevel }));
      return r.name === 'MI_BATCH_BUFFER_START' && r.len === 3 && r.fields.address === address &&
        r.fields.ppgtt === ppgtt && r.fields.secondLevel === secondLevel;
    }),
  );
  t.throws(() => miBatchBufferStart(2 ** 48), { code: 'E_RANGE' });
  t.throws(() => miBatchBufferStart(0x1002), /aligned/);
});

t.test('MI_STORE_DATA_IMM', async (t) => {
  fc.assert(
    fc.property(address48, fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 40 }), fc.boolean(), (a, values, ggtt) => {
      const address = values.length === 2 ? a - (a % 8) : a;
      const r = roundTrip(miStoreDataImm(address, values, { ggtt }));
      return r.name === 'MI_STORE_DATA_IMM' && r.len === 3 + values.length && r.fields.address === address &&
        r.fields.ggtt === ggtt && JSON.stringify(r.fields.data) === JSON.stringify(values) &&
        r.fields.storeQword === (values.length === 2);
    }),
  );
  t.throws(() => miStoreDataImm(0x1004, [1, 2]), /8-byte aligned/, 'a qword store needs qword alignment');
  t.throws(() => miStoreDataImm(0x1000, []), { code: 'E_RANGE' });
  t.throws(() => miStoreDataImm(0x1000, new Array(0x3ff).fill(0)), /length field/);
});

t.test('register commands', async (t) => {
  const lri = miLoadRegisterImm([[0x2094, 1], [0x7000, 0xffff0001]]);
  t.same(lri, [0x11000003, 0x2094, 1, 0x7000, 0xffff0001]);
  t.same(roundTrip(lri), {
    name: 'MI_LOAD_REGISTER_IMM', len: 5,
    fields: { byteWriteDisables: 0, pairs: [{ offset: 0x2094, value: 1 }, { offset: 0x7000, value: 0xffff0001 }] },
  });
  t.throws(() => miLoadRegisterImm([[0x2095, 0]]), /register offset/);
  t.throws(() => miLoadRegisterImm(new Array(129).fill([0x2000, 0])), /length field/, 'at most 128 pairs');
  t.doesNotThrow(() => miLoadRegisterImm(new Array(128).fill([0x2000, 0])));

  t.same(roundTrip(miStoreRegisterMem(0x2358, 0x12345678, { ggtt: true })), {
    name: 'MI_STORE_REGISTER_MEM', len: 4, fields: { register: 0x2358, address: 0x12345678, ggtt: true, predicate: false },
  });
  t.same(roundTrip(miLoadRegisterMem(0x2094, 0x7_0000_1000)), {
    name: 'MI_LOAD_REGISTER_MEM', len: 4, fields: { register: 0x2094, address: 0x7_0000_1000, ggtt: false, asyncMode: false },
  });
  t.same(roundTrip(miLoadRegisterReg(0x2358, 0x2600)), { name: 'MI_LOAD_REGISTER_REG', len: 3, fields: { source: 0x2358, destination: 0x2600 } });
});

t.test('MI_FLUSH_DW', async (t) => {
  const r = roundTrip(miFlushDw({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: 0x2000, ggtt: true, data: 42, notify: true }), EngineClass.BCS);
  t.equal(r.name, 'MI_FLUSH_DW');
  t.equal(r.len, 4);
  t.match(r.fields, { postSyncOp: 1, address: 0x2000, ggtt: true, data: 42, notify: true, tlbInvalidate: false });
  const q = roundTrip(miFlushDw({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address: 0x3_0000_0008, data: 1, dataHigh: 2 }), EngineClass.VECS);
  t.equal(q.len, 5);
  t.match(q.fields, { address: 0x3_0000_0008, ggtt: false, data: 1, dataHigh: 2 });
  t.throws(() => miFlushDw({ address: 0x1004 }), /8-byte aligned/);
});

t.test('PIPE_CONTROL', async (t) => {
  fc.assert(
    fc.property(address48, fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.boolean(), fc.boolean(), (a, data, dataHigh, ggtt, stall) => {
      const address = a - (a % 8);
      const r = roundTrip(pipeControl({ postSyncOp: PostSyncOp.WRITE_IMMEDIATE, address, data, dataHigh, ggtt, commandStreamerStall: stall }));
      return r.name === 'PIPE_CONTROL' && r.len === 6 && r.fields.postSyncOp === 1 && r.fields.address === address &&
        r.fields.data === data && r.fields.dataHigh === dataHigh && r.fields.ggtt === ggtt && r.fields.commandStreamerStall === stall;
    }),
  );
  const flush = roundTrip(pipeControl({ renderTargetCacheFlush: true, dcFlush: true, depthCacheFlush: true }));
  t.match(flush.fields, { postSyncOp: 0, renderTargetCacheFlush: true, dcFlush: true, depthCacheFlush: true, notify: false });
});

t.test('XY_COLOR_BLT and XY_SRC_COPY_BLT', async (t) => {
  const fill = xyColorBlt({ dstAddress: 0x1_0080_0000, dstPitch: 7680, dst: { x1: 10, y1: 20, x2: 110, y2: 220 }, color: 0xff00ff00 });
  t.equal(fill.length, 7);
  t.same(roundTrip(fill, EngineClass.BCS), {
    name: 'XY_COLOR_BLT', len: 7,
    fields: {
      writeAlpha: true, writeRgb: true, dstTiled: false, pitch: 7680, rop: 0xf0, colorDepth: 3, clipEnable: false,
      dst: { x1: 10, y1: 20, x2: 110, y2: 220 }, dstAddress: 0x1_0080_0000, color: 0xff00ff00,
    },
  });
  const copy = xySrcCopyBlt({
    dstAddress: 0x80_0000, dstPitch: -4096, dst: { x1: 0, y1: 0, x2: 64, y2: 32 },
    srcAddress: 0x2_0000_0000, srcPitch: 256, srcX: 5, srcY: 6, colorDepth: 1, srcTiled: true, clipEnable: true,
  });
  t.equal(copy.length, 10);
  t.same(roundTrip(copy, EngineClass.BCS), {
    name: 'XY_SRC_COPY_BLT', len: 10,
    fields: {
      writeAlpha: true, writeRgb: true, dstTiled: false, srcTiled: true, pitch: -4096, rop: 0xcc, colorDepth: 1, clipEnable: true,
      dst: { x1: 0, y1: 0, x2: 64, y2: 32 }, dstAddress: 0x80_0000, src: { x1: 5, y1: 6 }, srcPitch: 256, srcAddress: 0x2_0000_0000,
    },
  });
  t.throws(() => xyColorBlt({ dstAddress: 0, dstPitch: 0x8000, dst: { x1: 0, y1: 0, x2: 1, y2: 1 }, color: 0 }), /pitch/);
  t.throws(() => xyColorBlt({ dstAddress: 0, dstPitch: 64, dst: { x1: 0, y1: 0, x2: 0x10000, y2: 1 }, color: 0 }), /coordinate/);
});

t.test('encodeByName builds a well-formed header for any entry', async (t) => {
  const d = new CommandDecoder();
  for (const c of COMMANDS) {
    const n = typeof c.length === 'number' ? c.length : Math.max(c.length.bias, Math.min(c.nominalLength, c.length.mask + c.length.bias));
    const cmd = encodeByName(c.name, new Array(n - 1).fill(0xffffffff));
    const engine = (Math.log2(c.engines & -c.engines)) as Engine;
    const buf = Uint32Array.from(cmd);
    if (d.decode(buf, 0, buf.length, engine) !== n || d.id !== c.id || d.error !== DecodeError.OK) t.fail(`${c.name} length ${n}`);
  }
  t.same(encodeByName('3DPRIMITIVE', [4, 3, 0, 1, 0, 0]), [0x7b000005, 4, 3, 0, 1, 0, 0]);
  t.equal(encodeByName('MFX_PIPE_MODE_SELECT', [0, 0, 0, 0])[0], 0x70000003);
  t.throws(() => encodeByName('MI_NOOP', [1]), /fixed length 1/);
  t.throws(() => encodeByName('3DSTATE_VS', new Array(0x102).fill(0)), /do not fit/);
  t.throws(() => encodeHeader('PIPE_CONTROL', 6, 1 << 17), /overlap/, 'header bits may not touch the opcode');
  t.throws(() => encodeHeader('PIPE_CONTROL', 6, 1), /overlap/, 'nor the length field');
  t.throws(() => encodeByName('NOT_A_COMMAND'), { code: 'E_RANGE' });
  t.ok(findCommand('3DSTATE_VERTEX_BUFFERS'));
});

t.test('decodeFields: table addresses for the rest, misuse throws', async (t) => {
  const sba = new Array(18).fill(0);
  sba[0] = 0x1000 | 1;
  sba[1] = 0x1;
  const buf = Uint32Array.from(encodeByName('STATE_BASE_ADDRESS', sba));
  const id = findCommand('STATE_BASE_ADDRESS')!.id;
  t.equal(decodeFields(buf, 0, id).generalStateBaseAddress, 0x1_0000_1000);
  const vb = Uint32Array.from(encodeByName('3DSTATE_VERTEX_BUFFERS', [0, 0x100, 0x1, 64, 1 << 26, 0x200, 0, 64]));
  t.same(decodeFields(vb, 0, findCommand('3DSTATE_VERTEX_BUFFERS')!.id), { bufferStartingAddress: [0x1_0000_0100, 0x200] });
  t.same(decodeFields(Uint32Array.from(encodeByName('3DSTATE_VF_TOPOLOGY', [4])), 0, findCommand('3DSTATE_VF_TOPOLOGY')!.id), {});
  t.throws(() => decodeFields(buf, 0, 9999), { code: 'E_RANGE' });
  t.throws(() => decodeFields(buf.subarray(0, 5), 0, id), /needs 19 dwords/);
  t.same(toCommandBuffer([1, 2], [3]), Uint32Array.from([1, 2, 3]));
});

// A device-conformance test written against the harness: two guests share the GPU; one stores
// data through its PPGTT, the other tries to write a register commands may not touch.
import assert from 'node:assert/strict';
import { Harness, miStoreDataImm, miLoadRegisterImm } from 'gvtkit';

const h = new Harness();
const good = h.addGuest({ type: 'GVTg_V5_8', name: 'good' });
const evil = h.addGuest({ type: 'GVTg_V5_8', name: 'evil' });

const buf = good.ppgttBuffer(4096);
good.submitBatch('rcs', miStoreDataImm(buf.gma, [0x600d]));
evil.submitBatch('rcs', miLoadRegisterImm([[0x44200, 0]])); // the master interrupt control
assert.ok(h.runUntilIdle());

assert.equal(good.read32(buf.gma), 0x600d);
assert.equal(good.lastWorkload?.status, 'completed');
assert.equal(evil.lastWorkload?.status, 'failed');
assert.equal(evil.lastWorkload?.failure?.rule, 'register-whitelist');
console.log(`good: 0x${good.read32(buf.gma).toString(16)}; evil refused by ${evil.lastWorkload?.failure?.rule}`);

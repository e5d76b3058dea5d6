import t from 'tap';
import { runDeviceDemo } from '../lib/device/index.js';

t.test('the device demo runs, verifies its results and prints the CSB and interrupts', async (t) => {
  const lines: string[] = [];
  runDeviceDemo((l) => lines.push(l));
  const text = lines.join('\n');
  t.match(text, /PCI 0x8086:0x1912/);
  t.notMatch(text, /FAIL/, 'every check passed');
  t.equal(lines.filter((l) => l.includes('ok   ')).length, 4);
  t.match(text, /idle-to-active/);
  t.match(text, /element-switch \| complete/);
  t.match(text, /active-to-idle \| complete/);
  t.match(text, /BCS user/);
  t.match(text, /Ran until idle/);
  // Deterministic: the same run prints the same lines.
  const again: string[] = [];
  runDeviceDemo((l) => again.push(l));
  t.same(again, lines);
});

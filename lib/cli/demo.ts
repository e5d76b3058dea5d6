/**
 * `gvtkit demo`: the main job on the embedded defaults. Until the full scenario demo exists it
 * boots the modelled device and runs a small command stream on it, printing what happened.
 */
import { runDeviceDemo } from '../device/demo.js';

export async function demoCommand(argv: string[], io: { out: (line: string) => void; err: (line: string) => void }): Promise<number> {
  if (argv.includes('--help')) {
    io.out('usage: gvtkit demo\n  boots the modelled Gen9 device, runs a small command stream through execlists, prints what happened');
    return 0;
  }
  runDeviceDemo(io.out);
  return 0;
}

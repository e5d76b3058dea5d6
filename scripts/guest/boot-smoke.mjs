#!/usr/bin/env node
// Boots the guest image (scripts/guest/build-image.sh) in v86 with NO GPU attached and
// prints its serial console. It checks that /init runs, every module loads, the test
// program reports /dev/dri/card0 missing and the guest reaches `GVTKIT-GUEST: done`;
// then it prints the wall time to each milestone and exits 0 (1 on a failed check, 2 on
// a timeout).
//
// usage: node scripts/guest/boot-smoke.mjs [--quiet] [--memory MiB] [--timeout s]
//        [--cmdline-extra "words"]
// Environment: GVTKIT_GUEST_CACHE (default <repo>/.cache/guest).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const cache = process.env.GVTKIT_GUEST_CACHE ?? join(repo, '.cache/guest');

const args = process.argv.slice(2);
function option(name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}
const quiet = args.includes('--quiet');
const memoryMiB = Number(option('--memory', '256'));
const timeoutS = Number(option('--timeout', '300'));
const cmdlineExtra = option('--cmdline-extra', '');
// Seconds to keep the emulator running after `done` (to see the power-off messages).
const lingerS = Number(option('--linger', '0'));

const read = (name) => {
  try {
    return readFileSync(join(cache, name));
  } catch {
    console.error(`boot-smoke: ${join(cache, name)} is missing: run scripts/guest/build-image.sh first`);
    process.exit(1);
  }
};
const buffer = (name) => {
  const b = read(name);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
};

// v86's ESM build resolves v86.wasm relative to the package; give the path explicitly.
const require = createRequire(import.meta.url);
const v86Dir = dirname(require.resolve('v86/package.json'));
const { V86 } = await import('v86');

const cmdline = `${read('cmdline.txt').toString().trim()} ${cmdlineExtra}`.trim();
const start = performance.now();
const cpuStart = process.cpuUsage();
const seconds = () => ((performance.now() - start) / 1000).toFixed(2);
// CPU seconds of this process: steadier than wall time on a loaded machine.
const cpuSeconds = () => {
  const u = process.cpuUsage(cpuStart);
  return ((u.user + u.system) / 1e6).toFixed(2);
};

const emulator = new V86({
  wasm_path: join(v86Dir, 'build/v86.wasm'),
  memory_size: memoryMiB * 1024 * 1024,
  vga_memory_size: 2 * 1024 * 1024,
  bios: { buffer: buffer('bios.bin') },
  vga_bios: { buffer: buffer('vgabios.bin') },
  bzimage: { buffer: buffer('bzImage') },
  initrd: { buffer: buffer('initrd.img') },
  cmdline,
  // ACPI tables are needed: wmi.ko (a dependency of video.ko, which i915 needs)
  // refuses to load without ACPI.
  acpi: true,
  autostart: true,
  disable_keyboard: true,
  disable_mouse: true,
  disable_speaker: true,
});

const milestones = [];
const markers = [];
let line = '';
let finished = false;

async function finish(code, why) {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  await emulator.destroy();
  const wall = seconds();
  console.log(`\nboot-smoke: ${why} (wall ${wall} s, cpu ${cpuSeconds()} s)`);
  for (const [what, at, cpu] of milestones) console.log(`boot-smoke:   wall ${at} s  cpu ${cpu} s  ${what}`);
  process.exit(code);
}

function check() {
  const has = (re) => markers.some((m) => re.test(m));
  const failures = [];
  if (!has(/^init start/)) failures.push('/init did not start');
  const moduleFails = markers.filter((m) => /^module \S+ FAIL/.test(m));
  if (moduleFails.length) failures.push(...moduleFails);
  if (!has(/^module i915 loaded/)) failures.push('i915 did not load');
  if (!has(/^error open errno=2 /) || !has(/^device missing \/dev\/dri\/card0/)) {
    failures.push('the test program did not report /dev/dri/card0 missing');
  }
  if (!has(/^batches 0\/0 verified/)) failures.push('no batches summary');
  return failures;
}

function onLine(text) {
  if (!quiet) console.log(text);
  const m = /GVTKIT-GUEST: (.*)$/.exec(text);
  if (m) {
    const marker = m[1];
    markers.push(marker);
    const word = marker.split(' ').slice(0, 2).join(' ');
    if (/^(init start|module i915|no Intel|card0|test exit|done)/.test(marker)) milestones.push([word, seconds(), cpuSeconds()]);
    if (marker.startsWith('done')) {
      const failures = check();
      const [code, why] = failures.length
        ? [1, `FAILED: ${failures.join('; ')}`]
        : [0, 'ok: init ran, modules loaded, card0 missing reported, done'];
      if (lingerS > 0) setTimeout(() => void finish(code, why), lingerS * 1000);
      else void finish(code, why);
    }
  } else if (/Kernel panic/.test(text)) {
    void finish(1, `FAILED: ${text.trim()}`);
  }
  if (/\] Linux version /.test(text)) milestones.push(['kernel banner', seconds(), cpuSeconds()]);
}

let firstByte = true;
emulator.add_listener('serial0-output-byte', (byte) => {
  if (firstByte) {
    firstByte = false;
    milestones.push(['first serial byte', seconds(), cpuSeconds()]);
  }
  const ch = String.fromCharCode(byte);
  if (ch === '\n') {
    onLine(line.replace(/\r$/, ''));
    line = '';
  } else {
    line += ch;
  }
});

const timer = setTimeout(() => {
  void finish(2, `TIMEOUT after ${timeoutS} s without "GVTKIT-GUEST: done"`);
}, timeoutS * 1000);

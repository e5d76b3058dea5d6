/** The README's examples are real programs: they run, and the README shows them verbatim. */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const readme = readFileSync('README.md', 'utf8');

/** What each example must print (the facts it demonstrates), line by line. */
const EXPECTED: Record<string, RegExp[]> = {
  embedding: [
    /^PVINFO magic 76544776:47765447, vGPU id 1$/, // "vGTvGTvG", the first guest id
    /^aperture slice 0x8000000 \+ 128 MiB$/, // above the host's 128 MiB, a GVTg_V5_4's 128 MiB
    /^guest PTE → frame 0x100, host PTE → frame 0x(?!100\b)[0-9a-f]+$/, // translated: another frame
    /^guest RAM at 0x100010: 0xc0ffee$/, // the aperture store reached the guest's RAM
  ],
  conformance: [/^good: 0x600d; evil refused by register-whitelist$/],
};

for (const name of ['embedding', 'conformance']) {
  t.test(`examples/${name}.ts runs, prints what it shows, and is in the README`, async (t) => {
    const src = readFileSync(`examples/${name}.ts`, 'utf8').trim();
    t.ok(readme.includes(src), 'README contains the example verbatim');
    const out = execFileSync(process.execPath, [`dist/examples/${name}.js`], { encoding: 'utf8' });
    const lines = out.trimEnd().split('\n');
    t.equal(lines.length, EXPECTED[name].length, `${name} prints ${EXPECTED[name].length} lines`);
    EXPECTED[name].forEach((re, i) => t.match(lines[i], re, `line ${i + 1}`));
  });
}

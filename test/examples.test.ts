/** The README's examples are real programs: they run, and the README shows them verbatim. */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const readme = readFileSync('README.md', 'utf8');

for (const name of ['embedding', 'conformance']) {
  t.test(`examples/${name}.ts runs and is in the README`, async (t) => {
    const src = readFileSync(`examples/${name}.ts`, 'utf8').trim();
    t.ok(readme.includes(src), 'README contains the example verbatim');
    const out = execFileSync(process.execPath, [`dist/examples/${name}.js`], { encoding: 'utf8' });
    t.ok(out.length > 0);
  });
}

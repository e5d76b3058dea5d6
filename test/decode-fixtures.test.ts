import t from 'tap';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandDecoder, commandName, DecodeError, parseEngineClass } from '../lib/device/commands/index.js';
import { generateFixtures, manifestJson, streamBytes } from '../scripts/gen-fixtures.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'streams');

interface ManifestRow {
  file: string;
  engine: string;
  bytes: number;
  commands: number;
}
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { streams: ManifestRow[] };

function dwordsOf(bytes: Uint8Array): Uint32Array {
  const out = new Uint32Array(bytes.length >>> 2);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let k = 0; k < out.length; k++) out[k] = view.getUint32(k * 4, true);
  return out;
}

t.test('the committed fixtures decode with zero errors', async (t) => {
  t.same(manifest.streams.map((s) => s.file), ['3d-frame.bin', 'blit.bin', 'media.bin']);
  for (const row of manifest.streams) {
    const bytes = new Uint8Array(readFileSync(join(dir, row.file)));
    t.equal(bytes.length, row.bytes, `${row.file} size`);
    t.ok(bytes.length <= 512 * 1024, `${row.file} is commit-sized`);
    t.equal(bytes.length % 8, 0, `${row.file} ends qword aligned`);
    const engine = parseEngineClass(row.engine)!;
    const buf = dwordsOf(bytes);
    const d = new CommandDecoder();
    const names = new Map<string, number>();
    let i = 0;
    let n = 0;
    let errors = 0;
    while (i < buf.length) {
      const len = d.decode(buf, i, buf.length, engine);
      if (d.error !== DecodeError.OK) {
        errors++;
        break;
      }
      const name = commandName(d.id);
      names.set(name, (names.get(name) ?? 0) + 1);
      i += len;
      n++;
    }
    t.equal(errors, 0, `${row.file}: no decode error`);
    t.equal(i, buf.length, `${row.file}: ends on a command boundary`);
    t.equal(n, row.commands, `${row.file}: command count matches the manifest`);
    const lastHeader = [...names.keys()];
    t.ok(lastHeader.includes('MI_BATCH_BUFFER_END'), `${row.file} ends its batch`);
    if (row.file === '3d-frame.bin') {
      t.ok((names.get('3DPRIMITIVE') ?? 0) >= 200, 'hundreds of draws');
      for (const s of ['PIPELINE_SELECT', 'STATE_BASE_ADDRESS', 'PIPE_CONTROL', '3DSTATE_VERTEX_BUFFERS', '3DSTATE_PS']) t.ok(names.has(s), `has ${s}`);
      t.ok(bytes.length >= 200 * 1024, 'a few hundred KiB');
    }
    if (row.file === 'blit.bin') for (const s of ['XY_SRC_COPY_BLT', 'XY_COLOR_BLT', 'MI_FLUSH_DW']) t.ok(names.has(s), `has ${s}`);
    if (row.file === 'media.bin') for (const s of ['MFX_PIPE_MODE_SELECT', 'MFX_AVC_SLICE_STATE', 'MFD_AVC_BSD_OBJECT', 'MFX_WAIT']) t.ok(names.has(s), `has ${s}`);
  }
});

t.test('the generator is deterministic and the committed files are current', async (t) => {
  const a = generateFixtures();
  const b = generateFixtures();
  for (let k = 0; k < a.length; k++) {
    t.same(streamBytes(a[k]), streamBytes(b[k]), `${a[k].file}: same seed, same bytes`);
    const onDisk = new Uint8Array(readFileSync(join(dir, a[k].file)));
    t.ok(Buffer.from(onDisk).equals(Buffer.from(streamBytes(a[k]))), `${a[k].file} matches the generator (regenerate: npm run fixtures)`);
  }
  t.equal(readFileSync(join(dir, 'manifest.json'), 'utf8'), manifestJson(a), 'manifest is current');
});

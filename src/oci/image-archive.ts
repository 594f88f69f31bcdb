import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import { type LayoutImage, writeImageLayout } from './image-layout.ts';

/**
 * Writes an OCI image layout as one tar file (what `skopeo copy oci-archive:FILE` reads): the layout is
 * assembled in a temporary directory, then archived in bytewise path order with fixed owners and times.
 */
export async function writeImageArchive(file: string, image: LayoutImage): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'fixity-archive-'));
  const tmp = join(dirname(file), `.${Date.now()}.oci-archive.tmp`);
  try {
    const layout = join(work, 'layout');
    await writeImageLayout(layout, image);
    const paths = (await walk(layout, '')).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const tar = pack();
    const done = pipeline(tar, createWriteStream(tmp));
    for (const path of paths) {
      const full = join(layout, path);
      const st = await stat(full);
      const header = {
        name: path,
        mode: st.isDirectory() ? 0o755 : 0o644,
        uid: 0,
        gid: 0,
        uname: '',
        gname: '',
        mtime: new Date(0),
      };
      if (st.isDirectory()) {
        tar.entry({ ...header, type: 'directory' });
        continue;
      }
      const entry = tar.entry({ ...header, type: 'file', size: st.size });
      await pipeline(createReadStream(full), entry);
    }
    tar.finalize();
    await done;
    await rename(tmp, file);
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(tmp, { force: true });
  }
}

async function walk(root: string, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(root, prefix), { withFileTypes: true })) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(`${path}/`, ...(await walk(root, path)));
    else out.push(path);
  }
  return out;
}

/**
 * Measures the two ways system/docker/image-fs.ts can read files out of an image, so the
 * threshold between them is a number, not a guess:
 *   npx tsx tools/bench/bench-image-fs.ts confine-sample/nginx:latest
 */
import Dockerode from 'dockerode';
import { openImageFs } from '../../system/docker/image-fs';

async function main() {
  const image = process.argv[2] ?? 'confine-sample/nginx:latest';
  const docker = new Dockerode();
  const id = (await docker.getImage(image).inspect()).Id;
  const t0 = performance.now();
  const fs = await openImageFs(docker, id, { exportPassThreshold: 1e9 });
  const tOpen = performance.now() - t0;
  try {
    const files = [...fs.entries()].filter(([, e]) => e.type === 'file' && e.elf).map(([p]) => p);
    const all = [...fs.entries()].filter(([, e]) => e.type === 'file');
    console.log(`${image}: ${[...fs.entries()].length} entries, ${all.length} files, ${files.length} ELF; open (create + index pass) ${tOpen.toFixed(0)} ms, index pass ${fs.indexMillis.toFixed(0)} ms`);
    const sample = files.slice(0, 40);
    let bytes = 0;
    let t = performance.now();
    for (const p of sample) bytes += (await fs.readFile(p, 1 << 29)).length;
    const perFile = (performance.now() - t) / sample.length;
    console.log(`getArchive, one file at a time: ${sample.length} files, ${bytes} bytes, ${perFile.toFixed(1)} ms/file`);
    const fs2 = fs as unknown as { exportPassThreshold: number };
    fs2.exportPassThreshold = 0;
    t = performance.now();
    let n = 0;
    bytes = 0;
    await fs.eachFile(sample, 1 << 29, async (_p, s) => {
      for await (const c of s) bytes += (c as Buffer).length;
      n++;
    });
    console.log(`second export pass for the same ${n} files: ${(performance.now() - t).toFixed(0)} ms, ${bytes} bytes`);
    t = performance.now();
    n = 0;
    await fs.eachFile(files, 1 << 29, async (_p, s) => {
      for await (const _c of s) void _c;
      n++;
    });
    console.log(`second export pass for all ${n} ELF files: ${(performance.now() - t).toFixed(0)} ms`);
  } finally {
    const t = performance.now();
    await fs.close();
    console.log(`close (remove helper) ${(performance.now() - t).toFixed(0)} ms`);
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});

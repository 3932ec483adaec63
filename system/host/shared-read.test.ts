import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readFileShared } from './shared-read';

test('reads the whole file into shared memory, so a worker it is posted to gets no copy', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confine-shared-read-'));
  try {
    const file = path.join(dir, 'f');
    const content = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < content.length; i++) content[i] = (i * 31) & 0xff;
    fs.writeFileSync(file, content);
    const bytes = readFileShared(file);
    expect(bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(bytes.equals(content)).toBe(true);
    fs.writeFileSync(path.join(dir, 'empty'), '');
    expect(readFileShared(path.join(dir, 'empty'))).toHaveLength(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

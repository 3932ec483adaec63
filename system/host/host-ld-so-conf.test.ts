import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ldSoConfDirs } from './host-resolver';

/**
 * `confine analyze --root` reads the root's ld.so.conf with extraction's parser: an
 * exported image whose included files each include them all again was followed 8 levels
 * deep with no memory of what it had read (FILES^8 reads: a hang).
 */
test('an include cycle among many files is read once per file, in file order', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'confine-host-conf-'));
  try {
    const FILES = 12;
    fs.mkdirSync(path.join(root, 'etc/c'), { recursive: true });
    fs.writeFileSync(path.join(root, 'etc/ld.so.conf'), 'include /etc/c/*.conf\n/opt/last\n');
    for (let i = 0; i < FILES; i++) fs.writeFileSync(path.join(root, `etc/c/f${String(i).padStart(2, '0')}.conf`), `include *.conf\n/opt/d${i}\n`);
    const dirs = ldSoConfDirs(root);
    expect(dirs).toEqual([...Array.from({ length: FILES }, (_, i) => `/opt/d${FILES - 1 - i}`), '/opt/last']);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}, 20_000);

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { trustedDir, trustedTree } from './owned-paths';
import { Ledger } from './ledger';

/** A uid (and gid) no one on this host is: stands for "another user". */
const OTHER = 12345;
// The tests that chown need root, as confine itself does (tracing needs it).
const asRoot = process.geteuid?.() === 0;

describe('directories confine writes into (-o, -r, --cache)', () => {
  let base: string;
  /** A stand-in for /etc: what a planted link leads to. Nothing may be written in it. */
  let target: string;
  beforeEach(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'confine-owned-'));
    target = path.join(base, 'etc');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
  });
  afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

  const cacheIn = (name = 'cache') => {
    const d = path.join(base, name);
    fs.mkdirSync(path.join(d, 'objects', 'ab'), { recursive: true });
    fs.writeFileSync(path.join(d, 'objects', 'ab', 'ab12.json'), '{}');
    fs.writeFileSync(path.join(d, 'ledger.jsonl'), '');
    return d;
  };
  const untouched = () => expect(fs.readdirSync(target)).toEqual(['passwd']);

  it('accepts a cache that is ours throughout, and gives its real path', () => {
    const d = cacheIn();
    fs.symlinkSync(d, path.join(base, 'link-to-cache')); // the user's own choice of path is followed once
    expect(trustedTree(d, '--cache')).toBe(fs.realpathSync(d));
    expect(trustedTree(path.join(base, 'link-to-cache'), '--cache')).toBe(fs.realpathSync(d));
  });

  it('refuses a cache owned by another user, naming it and what to do', () => {
    const d = cacheIn();
    fs.chownSync(d, OTHER, OTHER);
    expect(() => trustedTree(d, '--cache')).toThrow(new RegExp(`--cache ${d}: the directory is owned by uid ${OTHER}, not by uid 0 .*Use a directory that you own`));
    expect(() => trustedDir(d, '-o')).toThrow(/owned by uid 12345/);
  });

  it('refuses a ledger.jsonl planted as a link, and writes nothing where it leads', () => {
    const d = cacheIn();
    fs.rmSync(path.join(d, 'ledger.jsonl'));
    fs.symlinkSync(path.join(target, 'passwd'), path.join(d, 'ledger.jsonl'));
    expect(() => trustedTree(d, '--cache')).toThrow(`${path.join(d, 'ledger.jsonl')} is a symbolic link`);
    expect(() => trustedTree(d, '--cache')).toThrow(/Remove .*ledger\.jsonl/);
    // And the ledger itself never appends through one.
    expect(() => new Ledger(path.join(d, 'ledger.jsonl')).append({ run: 'r', image: 'i', stage: 's', status: 'running' })).toThrow(/ELOOP/);
    expect(fs.readFileSync(path.join(target, 'passwd'), 'utf8')).toBe('root:x:0:0::/root:/bin/sh\n');
  });

  it('refuses objects/ (or a shard in it) planted as a link to a directory', () => {
    const d = cacheIn();
    fs.rmSync(path.join(d, 'objects'), { recursive: true });
    fs.symlinkSync(target, path.join(d, 'objects'));
    expect(() => trustedTree(d, '--cache')).toThrow(`${path.join(d, 'objects')} is a symbolic link`);
    const e = cacheIn('cache2');
    fs.symlinkSync(target, path.join(e, 'objects', 'cd'));
    expect(() => trustedTree(e, '--cache')).toThrow(`${path.join(e, 'objects', 'cd')} is a symbolic link`);
    untouched();
  });

  it('refuses an entry deep inside that another user owns', () => {
    const d = cacheIn();
    fs.chownSync(path.join(d, 'objects', 'ab', 'ab12.json'), OTHER, OTHER);
    expect(() => trustedTree(d, '--cache')).toThrow(`${path.join(d, 'objects', 'ab', 'ab12.json')} is owned by uid ${OTHER}`);
    // -o and -r check the directory itself: an entry's owner is store-files' and writeFileAtomic's business.
    expect(trustedDir(d, '-o')).toBe(fs.realpathSync(d));
  });

  it('refuses a directory, or an entry, writable by every user or by a group not our own', () => {
    const d = cacheIn();
    fs.chmodSync(d, 0o1777);
    expect(() => trustedTree(d, '--cache')).toThrow(/the directory is writable by every user \(mode 1777\)/);
    expect(() => trustedDir(d, '-r')).toThrow(/-r .*writable by every user/);
    fs.chmodSync(d, 0o755);
    fs.chmodSync(path.join(d, 'objects', 'ab'), 0o777);
    expect(() => trustedTree(d, '--cache')).toThrow(`${path.join(d, 'objects', 'ab')} is writable by every user`);
    fs.chmodSync(path.join(d, 'objects', 'ab'), 0o775); // our own group: ours
    expect(trustedTree(d, '--cache')).toBe(fs.realpathSync(d));
    if (asRoot) {
      fs.chownSync(path.join(d, 'objects', 'ab'), 0, OTHER);
      expect(() => trustedTree(d, '--cache')).toThrow(`${path.join(d, 'objects', 'ab')} is writable by group ${OTHER}`);
    }
  });
});

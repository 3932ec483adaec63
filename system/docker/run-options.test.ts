import { SEED_DIR } from '../../test/test-data';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfineError } from '../../pipeline/errors';
import { parseRunOptions, tokenize, toCreateOptions } from './run-options';

const SEED = path.join(SEED_DIR, 'images.list');

function fails(extra: string): ConfineError {
  try {
    parseRunOptions(extra, { file: 'images.list', line: 7, image: 'x' });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfineError);
    return e as ConfineError;
  }
  throw new Error(`expected '${extra}' to fail`);
}

describe('tokenize', () => {
  it('splits on whitespace and honours quotes and escapes as sh does', () => {
    expect(tokenize(`  -e "discovery.type=single-node"  -e 'A=b c' -e B=x\\ y -e "C=\\"q\\" \\n"`)).toEqual([
      '-e', 'discovery.type=single-node', '-e', 'A=b c', '-e', 'B=x y', '-e', 'C="q" \\n',
    ]);
    expect(tokenize(`a""b '' ""`)).toEqual(['ab', '', '']);
    expect(tokenize('')).toEqual([]);
  });

  it('refuses unterminated quotes with the place', () => {
    expect(() => tokenize(`-e "A=1`, { file: 'f', line: 3 })).toThrow(/unterminated double quote/);
    expect(() => tokenize(`-e 'A=1`)).toThrow(/unterminated single quote/);
    expect(() => tokenize(`-e A=1\\`)).toThrow(/trailing backslash/);
  });
});

describe('parseRunOptions', () => {
  it('maps env in all its spellings', () => {
    const s = parseRunOptions('-e A=1 --env B=2 --env=C=3 -eD=4 -e=E=5 -e "F=x y"');
    expect(s.env).toEqual(['A=1', 'B=2', 'C=3', 'D=4', 'E=5', 'F=x y']);
    expect(s.cmd).toBeUndefined();
  });

  it('does not copy a host variable for -e KEY without a value, and says so', () => {
    const s = parseRunOptions('-e HOME');
    expect(s.env).toEqual([]);
    expect(s.notes.join()).toMatch(/HOME has no value/);
  });

  it('publishes ports on loopback only, noting an overridden ip', () => {
    const s = parseRunOptions('-p 9200:9200 -p 0.0.0.0:8080:80/udp --publish=53 -p8443:443 -p 127.0.0.1:1000-1001:2000-2001');
    expect(s.ports).toEqual([
      { containerPort: '9200/tcp', hostPort: '9200' },
      { containerPort: '80/udp', hostPort: '8080' },
      { containerPort: '53/tcp', hostPort: '' },
      { containerPort: '443/tcp', hostPort: '8443' },
      { containerPort: '2000/tcp', hostPort: '1000' },
      { containerPort: '2001/tcp', hostPort: '1001' },
    ]);
    expect(s.notes).toHaveLength(1);
    expect(s.notes[0]).toMatch(/127\.0\.0\.1 instead of 0\.0\.0\.0/);
    const opts = toCreateOptions(s, 'sha256:abc', {});
    for (const list of Object.values(opts.HostConfig!.PortBindings as Record<string, { HostIp: string }[]>)) {
      for (const b of list) expect(b.HostIp).toBe('127.0.0.1');
    }
    expect(parseRunOptions('-p [::]:80:80').notes[0]).toMatch(/instead of ::/);
  });

  it('rejects malformed ports', () => {
    expect(fails('-p 80:http').message).toMatch(/ports must be numbers/);
    expect(fails('-p 1:2:3:4').message).toMatch(/expected \[ip:\]host:container/);
    expect(fails('-p 80:80/foo').message).toMatch(/protocol/);
    expect(fails('-p 1-3:1-2').message).toMatch(/differ in length/);
    expect(fails('-p 70000:80').message).toMatch(/1-65535/);
  });

  it('returns volumes for the caller to decide on', () => {
    const s = parseRunOptions('-v data:/var/lib/data -v /srv/x:/x:ro --volume=/cache');
    expect(s.binds).toEqual(['data:/var/lib/data', '/srv/x:/x:ro']);
    expect(s.volumes).toEqual(['/cache']);
    expect(fails('-v ./rel:/x').message).toMatch(/absolute host path or a volume name/);
    expect(fails('-v data:rel').message).toMatch(/container path must be absolute/);
    expect(fails('-v data:/x:bogus').message).toMatch(/unknown volume option/);
  });

  it('maps entrypoint, user, workdir, tmpfs, init and the trailing command', () => {
    const s = parseRunOptions(`--entrypoint /bin/sh -u 1000:1000 -w /app --tmpfs /run:rw,size=64m --tmpfs /tmp --init -c 'echo hi; sleep 1'`.replace(' -c', ' -- -c'));
    expect(s.entrypoint).toEqual(['/bin/sh']);
    expect(s.user).toBe('1000:1000');
    expect(s.workdir).toBe('/app');
    expect(s.tmpfs).toEqual({ '/run': 'rw,size=64m', '/tmp': '' });
    expect(s.init).toBe(true);
    expect(s.cmd).toEqual(['-c', 'echo hi; sleep 1']);
    expect(parseRunOptions('--entrypoint "" echo hi').entrypoint).toEqual(['']);
  });

  it('treats the first non-flag word as the start of the command, flags after it included', () => {
    const s = parseRunOptions('-e A=1 redis-server --port 7000 -e x');
    expect(s.cmd).toEqual(['redis-server', '--port', '7000', '-e', 'x']);
    expect(s.env).toEqual(['A=1']);
  });

  it('drops harmless CLI flags, clustered or not, and notes --name', () => {
    const s = parseRunOptions('-d -it -dit --rm -t -i --detach --tty --interactive=true --name web');
    expect(s).toMatchObject({ env: [], ports: [], binds: [] });
    expect(s.cmd).toBeUndefined();
    expect(s.notes).toEqual([expect.stringMatching(/--name web ignored/)]);
    expect(parseRunOptions('-itp 80:80').ports).toEqual([{ containerPort: '80/tcp', hostPort: '80' }]);
  });

  it('refuses unknown and dangerous flags with a located bad-input error', () => {
    const e = fails('--xyz 1');
    expect(e.kind).toBe('bad-input');
    expect(e.message).toBe('unsupported docker-run flag --xyz');
    expect(e.where).toEqual({ file: 'images.list', line: 7, image: 'x' });
    expect(fails('--privileged').message).toMatch(/--privileged \(confine never runs containers privileged\)/);
    expect(fails('--cap-add=SYS_ADMIN').message).toMatch(/--cap-add/);
    expect(fails('-X').message).toBe('unsupported docker-run flag -X');
    expect(fails('-e').message).toMatch(/needs a value/);
    expect(fails('--rm=yes').message).toMatch(/takes no value/);
  });

  it('honours none/bridge networks and refuses host networking like the other host namespaces', () => {
    expect(parseRunOptions('--network none').network).toBe('none');
    expect(fails('--net=host -e JOOMLA_DB_HOST=127.0.0.1:3306').message).toMatch(/--network host: sharing the host network namespace is refused/);
    expect(fails('--network host').message).toMatch(/refused/);
    expect(fails('--net=container:abc').message).toMatch(/unsupported network/);
  });

  it('parses every line of the seed images.list (or fails it with a located message)', () => {
    const lines = fs.readFileSync(SEED, 'utf8').split('\n');
    let withOptions = 0;
    lines.forEach((text, i) => {
      const fields = text.split(';');
      if (fields.length < 7) return;
      withOptions++;
      const where = { file: path.basename(SEED), line: i + 1, image: fields[1] };
      if (/--net(work)?[= ]host\b/.test(fields[6])) {
        // joomla's line asks for the host's network: refused, located.
        expect(() => parseRunOptions(fields[6], where)).toThrow(expect.objectContaining({ kind: 'bad-input', where: expect.objectContaining({ line: i + 1 }) }));
        return;
      }
      const spec = parseRunOptions(fields[6], where);
      expect(spec.cmd).toBeUndefined();
      expect(spec.env.length + spec.ports.length).toBeGreaterThan(0);
    });
    expect(withOptions).toBeGreaterThanOrEqual(9);
    const es = parseRunOptions(`-p 9200:9200 -p 9300:9300 -e "discovery.type=single-node"`);
    expect(es.env).toEqual(['discovery.type=single-node']);
    expect(es.ports.map((p) => p.containerPort)).toEqual(['9200/tcp', '9300/tcp']);
  });
});

describe('toCreateOptions', () => {
  it('applies hardening and limits on top of the spec', () => {
    const s = parseRunOptions('-e A=1 -p 8080:80 -v data:/d --tmpfs /run -u nobody -w /srv --entrypoint /e x y');
    const o = toCreateOptions(s, 'sha256:img', { confine: '1' });
    expect(o).toMatchObject({
      Image: 'sha256:img',
      Env: ['A=1'],
      Labels: { confine: '1' },
      ExposedPorts: { '80/tcp': {} },
      Entrypoint: ['/e'],
      Cmd: ['x', 'y'],
      User: 'nobody',
      WorkingDir: '/srv',
      Tty: false,
    });
    expect(o.HostConfig).toMatchObject({
      LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } },
      Privileged: false,
      CapAdd: [],
      SecurityOpt: [],
      PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] },
      Binds: ['data:/d'],
      Tmpfs: { '/run': '' },
      Memory: 1024 ** 3,
      MemorySwap: 1024 ** 3,
      PidsLimit: 512,
      NanoCpus: 1e9,
      AutoRemove: false,
    });
    const o2 = toCreateOptions(parseRunOptions(''), 'i', {}, { memoryBytes: 1 << 28, pidsLimit: 64, nanoCpus: 5e8, securityOpt: ['no-new-privileges'] });
    expect(o2.HostConfig).toMatchObject({ Memory: 1 << 28, PidsLimit: 64, NanoCpus: 5e8, SecurityOpt: ['no-new-privileges'] });
    expect(o2.Entrypoint).toBeUndefined();
    expect(o2.Cmd).toBeUndefined();
  });
});

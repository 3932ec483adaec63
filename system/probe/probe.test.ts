import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfineError } from '../../pipeline/errors';
import { loadProbes, runProbe, validateProbes } from './probe';

const servers: Array<net.Server> = [];
const sockets = new Set<net.Socket>();

function listen(server: net.Server, port = 0): Promise<number> {
  servers.push(server);
  // close() waits for open connections; some test servers deliberately never end theirs.
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

/** A port nothing listens on: bind an ephemeral one, then release it. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  const port = await new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as net.AddressInfo).port)));
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

afterEach(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

describe('runProbe http', () => {
  test('passes on the expected status and body', async () => {
    const port = await listen(http.createServer((_q, res) => res.writeHead(200).end('hello nginx')));
    const r = await runProbe({ kind: 'http', port, path: '/', expectStatus: 200, expectBody: 'nginx' });
    expect(r).toMatchObject({ ok: true, attempts: 1 });
  });

  test('fails on the wrong status, saying which', async () => {
    const port = await listen(http.createServer((_q, res) => res.writeHead(404).end('no')));
    const r = await runProbe({ kind: 'http', port, path: '/x', expectStatus: 200 }, { retries: 1, retryDelayMs: 10 });
    expect(r.ok).toBe(false);
    expect(r.attempts).toBe(2);
    expect(r.detail).toContain('status 404, expected 200');
  });

  test('fails when the body lacks the expected text', async () => {
    const port = await listen(http.createServer((_q, res) => res.writeHead(200).end('It works')));
    const r = await runProbe({ kind: 'http', port, path: '/', expectStatus: 200, expectBody: 'nginx' });
    expect(r.ok).toBe(false);
    expect(r.detail).toContain('body lacks');
  });

  test('retries until a late server comes up', async () => {
    const port = await freePort();
    setTimeout(() => void listen(http.createServer((_q, res) => res.writeHead(200).end('ok')), port), 300);
    const r = await runProbe({ kind: 'http', port, path: '/', expectStatus: 200 }, { retries: 20, retryDelayMs: 100, timeoutMs: 500 });
    expect(r.ok).toBe(true);
    expect(r.attempts).toBeGreaterThan(1);
  });

  test('a server that never answers fails within the time bound', async () => {
    // Accepts, never replies: the per-attempt timeout must end it.
    const port = await listen(net.createServer(() => undefined));
    const t0 = Date.now();
    const r = await runProbe({ kind: 'http', port, path: '/', expectStatus: 200 }, { timeoutMs: 200, retries: 1, retryDelayMs: 50 });
    expect(r.ok).toBe(false);
    expect(r.detail).toContain('no answer within 200 ms');
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

describe('runProbe bounds', () => {
  test('deadlineMs stops retrying before retries run out', async () => {
    const port = await freePort();
    const r = await runProbe({ kind: 'tcp', port, expect: 'x' }, { retries: 1000, retryDelayMs: 20, deadlineMs: 200 });
    expect(r.ok).toBe(false);
    expect(r.attempts).toBeLessThan(20);
    expect(r.elapsedMs).toBeLessThan(1000);
  });

  test('an abort signal ends the waiting at once and says why', async () => {
    const port = await freePort();
    const ac = new AbortController();
    setTimeout(() => ac.abort('container exited'), 100);
    const r = await runProbe({ kind: 'tcp', port, expect: 'x' }, { retries: 1000, retryDelayMs: 5000, signal: ac.signal });
    expect(r.ok).toBe(false);
    expect(r.elapsedMs).toBeLessThan(2000);
    expect(r.detail).toContain('stopped: container exited');
  });
});

describe('runProbe tcp', () => {
  test('sends, then waits for the expected reply across chunks', async () => {
    const port = await listen(
      net.createServer((s) =>
        s.on('data', (d) => {
          if (d.toString() === 'PING\r\n') {
            s.write('+PO');
            setTimeout(() => s.write('NG\r\n'), 50);
          }
        }),
      ),
    );
    const r = await runProbe({ kind: 'tcp', port, send: 'PING\r\n', expect: '+PONG' });
    expect(r.ok).toBe(true);
    expect(r.detail).toContain('+PONG');
  });

  test('reads a binary greeting without sending', async () => {
    const greeting = Buffer.concat([Buffer.from([0x5b, 0, 0, 0, 0x0a]), Buffer.from('5.5.5-10.11\0mysql_native_password\0')]);
    const port = await listen(net.createServer((s) => s.write(greeting)));
    const r = await runProbe({ kind: 'tcp', port, expect: 'mysql_native_password' });
    expect(r.ok).toBe(true);
  });

  test('a connection closed before the reply (docker proxy, server not up) is a failure', async () => {
    const port = await listen(net.createServer((s) => s.end()));
    const r = await runProbe({ kind: 'tcp', port, send: 'version\r\n', expect: 'VERSION' }, { retries: 2, retryDelayMs: 10 });
    expect(r.ok).toBe(false);
    expect(r.attempts).toBe(3);
    expect(r.detail).toContain('closed after nothing');
  });

  test('connection refused is a failure, not a throw', async () => {
    const port = await freePort();
    const r = await runProbe({ kind: 'tcp', port, expect: 'x' });
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/ECONNREFUSED/);
  });
});

describe('loadProbes', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'confine-probes-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };
  const failure = (fn: () => unknown): ConfineError => {
    try {
      fn();
    } catch (e) {
      if (e instanceof ConfineError) return e;
      throw e;
    }
    throw new Error('expected a ConfineError');
  };

  test('the checked-in probes.json is valid and covers every image in images.list', () => {
    const probes = loadProbes(path.join(__dirname, '..', '..', 'images', 'probes.json'));
    const names = fs
      .readFileSync(path.join(__dirname, '..', '..', 'images', 'images.list'), 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => l.split(';')[1]);
    expect(Object.keys(probes).sort()).toEqual([...names].sort());
  });

  test('parses http and tcp probes, turning JSON escapes into bytes', () => {
    const p = write('ok.json', '{"a":{"kind":"http","port":80,"path":"/","expectStatus":200},"b":{"kind":"tcp","port":1,"send":"PING\\r\\n","expect":"+PONG"}}');
    const probes = loadProbes(p);
    expect(probes.a).toEqual({ kind: 'http', port: 80, path: '/', expectStatus: 200 });
    expect(probes.b).toEqual({ kind: 'tcp', port: 1, send: 'PING\r\n', expect: '+PONG' });
  });

  test.each([
    ['bad port', '{"redis":{"kind":"tcp","port":70000,"expect":"x"}}', /probe "redis": port must be an integer/],
    ['unknown kind', '{"x":{"kind":"udp","port":1}}', /probe "x": kind must be "http" or "tcp"/],
    ['empty expect', '{"m":{"kind":"tcp","port":1,"expect":""}}', /probe "m": expect must be a non-empty string/],
    ['path without slash', '{"n":{"kind":"http","port":1,"path":"x","expectStatus":200}}', /probe "n": path must be/],
    ['typo field', '{"n":{"kind":"http","port":1,"path":"/","expectStatus":200,"expectbody":"x"}}', /probe "n": unknown field\(s\) expectbody/],
    ['not an object', '[1,2]', /must be an object mapping/],
  ])('rejects %s, naming file and entry', (_label, text, re) => {
    const p = write('bad.json', text);
    const e = failure(() => loadProbes(p));
    expect(e.kind).toBe('bad-input');
    expect(e.message).toMatch(re);
    expect(e.where.file).toBe(p);
    expect(e.describe()).toContain(p);
  });

  test('not JSON and missing file are distinct errors', () => {
    expect(failure(() => loadProbes(write('nojson.json', '{oops'))).message).toMatch(/not JSON/);
    expect(failure(() => loadProbes(path.join(dir, 'absent.json'))).kind).toBe('missing-file');
  });

  test('validateProbes works on parsed data', () => {
    expect(validateProbes({ a: { kind: 'tcp', port: 5, expect: 'y' } }, 'mem')).toEqual({ a: { kind: 'tcp', port: 5, expect: 'y' } });
  });
});

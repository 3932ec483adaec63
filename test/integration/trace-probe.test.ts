/**
 * run-and-trace with a probe, on the real engine: a static server that, for each
 * connection, fork+execs a second program of its image. Nothing connects to it unless
 * the probe does, so that program is traced with a probe and never without one. The
 * probe is part of the stage's key only for the image that has one.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import { importFiles } from '../../system/verify/container';
import { confine, containersOfDeadOwners, tempWorkdir } from './cli-harness';

jest.setTimeout(300_000);

const SERVER = `
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
static void bye(int s) { (void)s; _exit(0); }
int main(void) {
  signal(SIGTERM, bye);
  signal(SIGCHLD, SIG_IGN); /* the kernel reaps the helpers */
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(8080) };
  if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16)) return 1;
  for (;;) {
    int c = accept(s, 0, 0);
    if (c < 0) continue;
    if (fork() == 0) {
      char *argv[] = { "/helper", 0 };
      dup2(c, 1);
      execv("/helper", argv);
      _exit(127);
    }
    close(c);
  }
}
`;
/** Runs only because a request came. */
const HELPER = `
#include <stdio.h>
int main(void) { printf("HELPER-RAN\\n"); fflush(stdout); return 0; }
`;

const REF = `confine-trace-probe/forking-server:${process.pid}`;
// Two names for the one image: only `probed` gets a probe.
const LIST = [`1;probed;${REF};['Test'];0;Unofficial;-p 28231:8080 /server`, `2;idle;${REF};['Test'];0;Unofficial;-p 28232:8080 /server`];
const ARGS = ['profiles', '-i', 'images.list', '--until', 'run-and-trace', '--duration', '4'];
const docker = new Dockerode();
const dir = tempWorkdir(LIST);

interface Trace {
  status: string;
  executedPaths: string[];
  log: string[];
}

/** The run-and-trace entry the last run used for `image`, read from the cache through the ledger. */
function trace(image: string): Trace {
  const cache = path.join(dir, '.confine-cache');
  const records = readFileSync(path.join(cache, 'ledger.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const rec = [...records].reverse().find((r) => r.image === image && r.stage === 'run-and-trace' && r.status !== 'running');
  if (!rec?.key) throw new Error(`no run-and-trace record with a key for ${image}: ${JSON.stringify(rec)}`);
  const entry = JSON.parse(readFileSync(path.join(cache, 'objects', rec.key.slice(0, 2), `${rec.key}.json`), 'utf8'));
  return { status: rec.status, executedPaths: entry.artifact.executedPaths, log: entry.log };
}

async function run(probes?: object): Promise<void> {
  const args = [...ARGS];
  if (probes) {
    writeFileSync(path.join(dir, 'probes.json'), JSON.stringify(probes));
    args.push('--probes', 'probes.json');
  }
  const r = await confine(args, dir);
  // A probe's failure is a warning: tracing still succeeds.
  expect({ code: r.code, stderr: r.stderr.includes('internal error') ? r.stderr : '' }).toEqual({ code: 0, stderr: '' });
}

beforeAll(async () => {
  for (const [name, src] of [['server', SERVER], ['helper', HELPER]]) {
    writeFileSync(path.join(dir, `${name}.c`), src);
    execFileSync('gcc', ['-static', '-O1', '-o', path.join(dir, name), path.join(dir, `${name}.c`)]);
  }
  await importFiles(docker, REF, [
    { path: '/server', content: readFileSync(path.join(dir, 'server')) },
    { path: '/helper', content: readFileSync(path.join(dir, 'helper')) },
  ]);
});

afterAll(async () => {
  await docker.getImage(REF).remove({ force: true }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('run-and-trace with a probe', () => {
  it('without probes, the program the server runs per request is never traced', async () => {
    await run();
    for (const image of ['probed', 'idle']) {
      const t = trace(image);
      expect(t.status).toBe('done');
      expect(t.executedPaths).toContain('/server');
      expect(t.executedPaths).not.toContain('/helper');
    }
  });

  it('a probe added for one image re-traces that image only, and its requests make the server exec the helper', async () => {
    await run({ probed: { kind: 'tcp', port: 28231, expect: 'HELPER-RAN' } });
    const probed = trace('probed');
    expect(probed.status).toBe('done');
    expect(probed.executedPaths).toEqual(expect.arrayContaining(['/server', '/helper']));
    expect(probed.log.join('\n')).toMatch(/^probe: \d+ request\(s\) passed during the trace window$/m);
    const idle = trace('idle');
    expect(idle.status).toBe('reused');
    expect(idle.executedPaths).not.toContain('/helper');
  });

  it('a changed probe re-traces; one that never passes is a warning, not a failure, and is traced again next run', async () => {
    const failing = { probed: { kind: 'tcp', port: 28231, expect: 'NEVER-SAID' } };
    await run(failing);
    const probed = trace('probed');
    expect(probed.status).toBe('done');
    expect(probed.log.join('\n')).toMatch(/^warning: the probe never passed during the trace window \(after \d+ attempt\(s\); last: tcp 127\.0\.0\.1:28231: closed after "HELPER-RAN\."\)/m);
    // The requests were made all the same, and served.
    expect(probed.executedPaths).toContain('/helper');
    expect(trace('idle').status).toBe('reused');

    expect(probed.log).toContain('the next run traces this image again (its probe never passed)');
    // Not reused: a trace whose probe never passed may lack what requests make the server run.
    await run(failing);
    expect(trace('probed').status).toBe('done');
    expect(trace('idle').status).toBe('reused');
    expect(await containersOfDeadOwners()).toEqual([]);
  });
});

#!/usr/bin/env python3
"""Workloads beyond the verify probe, under a profile confine wrote, logging instead of
denying: every syscall the kernel logs for the container is one the profile would
have blocked (a false negative the probe did not reach).

  deep.py RESULTS_DIR NAME...      (NAME in: openssh exim4 php nodejs squid lighttpd ruby haproxy postfix)

Runs each image with RESULTS_DIR/NAME.seccomp.json's allowlist and defaultAction
SCMP_ACT_LOG, publishes on 127.0.0.1 only, runs the workload, stops the container
(graceful: shutdown counts), then prints the logged syscalls of the container's
processes (attributed by the pids seen in its cgroup, and by exe for short-lived
ones that were never sampled: '~' when their exe is a file of the image, else '?',
maybe another container's). Needs root (/dev/kmsg).
Exit 1 when a workload failed or an attributed syscall was logged.
"""
import json, os, re, socket, subprocess, sys, tempfile, threading, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
UNISTD = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h'
NAMES = {}
if os.path.exists(UNISTD):
    for m in re.finditer(r'#define __NR_(\w+) (\d+)', open(UNISTD).read()):
        NAMES[int(m.group(2))] = m.group(1)


def http_get(port, path, expect):
    with urllib.request.urlopen(f'http://127.0.0.1:{port}{path}', timeout=10) as r:
        body = r.read().decode('latin1')
    assert expect in body, body[:200]
    return body.strip()[:120]


def wait_port(port, greet=None, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            s = socket.create_connection(('127.0.0.1', port), timeout=2)
            if greet is None:
                s.close(); return
            data = s.recv(200)
            s.close()
            if greet.encode() in data:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f'port {port} never answered')


def smtp(port):
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    f = s.makefile('rwb')
    def cmd(line, code):
        if line is not None:
            f.write(line.encode() + b'\r\n'); f.flush()
        while True:
            r = f.readline().decode()
            if not r: raise RuntimeError(f'closed after {line}')
            if r[3:4] != '-': break
        assert r.startswith(code), (line, r)
        return r.strip()
    cmd(None, '220'); cmd('EHLO probe.localhost', '250'); cmd('MAIL FROM:<probe@localhost>', '250')
    cmd('RCPT TO:<root@localhost>', '250'); cmd('DATA', '354')
    last = cmd('Subject: confine ooc\r\n\r\nhello\r\n.', '250'); cmd('QUIT', '221')
    time.sleep(4)  # delivery runs in the background (exim re-execs itself; postfix's cleanup, qmgr, local)
    return last


def ssh(port, key):
    base = ['ssh', '-p', str(port), '-i', key, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
            '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR']
    # A failed login for a user that does not exist (PAM auth path), then a key login running commands.
    subprocess.run(base + ['nobody-here@127.0.0.1', 'true'], capture_output=True, timeout=20)
    r = subprocess.run(base + ['root@127.0.0.1', 'id; ls /etc >/dev/null; cat /etc/os-release | head -1; echo hi > /tmp/x; sleep 1'],
                       capture_output=True, timeout=30, text=True)
    assert r.returncode == 0, r.stderr
    r2 = subprocess.run(base + ['-t', '-t', 'root@127.0.0.1', 'echo tty-ok'], capture_output=True, timeout=30, text=True)
    return (r.stdout + r2.stdout).replace('\n', ' | ')[:160]


def setup_ssh(tmp):
    key = os.path.join(tmp, 'id_ed25519')
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key], check=True)
    ak = os.path.join(tmp, 'authorized_keys')
    with open(key + '.pub') as a, open(ak, 'w') as b:
        b.write(a.read())
    os.chmod(ak, 0o600)
    return key, ak


def squid(port):
    # A proxied request to port 80, closed, of the container's own loopback (no traffic
    # leaves it): URL parsing, connect(), ECONNREFUSED, the error page, access.log.
    req = urllib.request.Request('http://127.0.0.1:80/x')
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({'http': f'http://127.0.0.1:{port}'}))
    try:
        opener.open(req, timeout=15).read()
        return 'unexpected 200'
    except urllib.error.HTTPError as e:
        body = e.read().decode('latin1')
        return f'{e.code} ' + ('ERR_CONNECT_FAIL' if 'ERR_CONNECT_FAIL' in body else body[:80])


IMAGES = {
    # name: (container port, host port, extra docker args, workload(port, ctx))
    'openssh': (22, 28114, lambda c: ['-v', f"{c['ak']}:/root/.ssh/authorized_keys:ro"], lambda p, c: ssh(p, c['key'])),
    'exim4': (25, 28117, lambda c: [], lambda p, c: smtp(p)),
    'postfix': (25, 28119, lambda c: [], lambda p, c: smtp(p)),
    'php': (8080, 28116, lambda c: ['-v', f'{HERE}/deep.php:/srv/deep.php:ro'],
            lambda p, c: [http_get(p, '/deep.php', 'deep ok') for _ in range(2)][-1]),
    'nodejs': (8080, 28115, lambda c: ['-v', f'{HERE}/deep-server.js:/srv/server.js:ro'],
               lambda p, c: http_get(p, '/', 'deep ok')),
    'squid': (3128, 28113, lambda c: [], lambda p, c: squid(p)),
    'lighttpd': (80, 28111, lambda c: [], lambda p, c: '; '.join([
        http_get(p, '/', 'lighttpd'), str(fetch_status(p, '/nope')), str(fetch_status(p, '/index.html', {'Range': 'bytes=0-3'}))])),
    'ruby': (8080, 28118, lambda c: [], lambda p, c: '; '.join([
        http_get(p, '/', 'ruby'), str(fetch_status(p, '/nope')), str(fetch_status(p, '/index.html', {'If-Modified-Since': 'Sat, 01 Jan 2000 00:00:00 GMT'}))])),
    'haproxy': (8080, 28112, lambda c: [], lambda p, c: '; '.join(parallel_gets(p, 50))),
}


def parallel_gets(port, n):
    # Many connections at once: the event loop's accept/epoll paths beyond one request.
    out = []
    ts = [threading.Thread(target=lambda: out.append(str(fetch_status(port, '/x')))) for _ in range(n)]
    for t in ts: t.start()
    for t in ts: t.join()
    return sorted(set(out)) + [f'{len(out)} requests']


def fetch_status(port, path, headers=None):
    try:
        with urllib.request.urlopen(urllib.request.Request(f'http://127.0.0.1:{port}{path}', headers=headers or {}), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


class Kmsg:
    """Seccomp records from /dev/kmsg, from now on."""
    def __init__(self):
        self.fd = os.open('/dev/kmsg', os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.fd, 0, os.SEEK_END)
        self.recs = []
    def drain(self):
        while True:
            try:
                line = os.read(self.fd, 8192).decode('utf-8', 'replace')
            except BlockingIOError:
                return
            except OSError:  # EPIPE: records were overwritten
                self.recs.append('LOST'); continue
            if 'type=1326' in line:
                self.recs.append(line)


def run(results, name):
    cport, hport, extra, work = IMAGES[name]
    prof = json.load(open(os.path.join(results, f'{name}.seccomp.json')))
    prof['defaultAction'] = 'SCMP_ACT_LOG'
    prof.pop('defaultErrnoRet', None)
    tmp = tempfile.mkdtemp(prefix=f'ooc-deep-{name}-')
    pf = os.path.join(tmp, 'log.json')
    json.dump(prof, open(pf, 'w'))
    ctx = {}
    if name == 'openssh':
        ctx['key'], ctx['ak'] = setup_ssh(tmp)
    k = Kmsg()
    cname = f'ooc-deep-{name}-{os.getpid()}'
    cid = subprocess.run(['docker', 'run', '-d', '--name', cname, '--security-opt', f'seccomp={pf}',
                          '-p', f'127.0.0.1:{hport}:{cport}'] + extra(ctx) + [f'confine-ooc/{name}:latest'],
                         check=True, capture_output=True, text=True).stdout.strip()
    pids, stop = set(), threading.Event()
    def sample():
        f = f'/sys/fs/cgroup/pids/docker/{cid}/cgroup.procs'
        while not stop.is_set():
            try:
                pids.update(int(x) for x in open(f).read().split())
            except OSError:
                pass
            k.drain()
            time.sleep(0.05)
    t = threading.Thread(target=sample); t.start()
    result = 'not run'
    try:
        wait_port(hport, greet={'exim4': '220', 'postfix': '220', 'openssh': 'SSH-'}.get(name))
        time.sleep(1)
        result = work(hport, ctx)
    except Exception as e:  # the report says what failed; the container is still removed
        result = f'WORKLOAD FAILED: {e!r}'
    finally:
        time.sleep(1)
        subprocess.run(['docker', 'stop', '-t', '5', cname], capture_output=True)
        logs = subprocess.run(['docker', 'logs', cname], capture_output=True, text=True)
        listing = subprocess.run(f'docker export {cname} | tar -t', shell=True, capture_output=True, text=True).stdout
        in_image = {'/' + l.rstrip('/') for l in listing.splitlines()}
        subprocess.run(['docker', 'rm', '-f', cname], capture_output=True)
        time.sleep(0.5); stop.set(); t.join(); k.drain()
    seen = {}
    exes = set()
    for r in k.recs:
        if r == 'LOST':
            seen.setdefault(('LOST', '', ''), 0); continue
        m = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', r.split(';', 1)[-1]))
        if m.get('code') != '0x7ffc0000':
            continue
        pid = int(m['pid'])
        exe = m['exe'].strip('"')
        mark = '' if pid in pids else '~' if exe in in_image else '?'
        key = (NAMES.get(int(m['syscall']), m['syscall']), m['comm'].strip('"'), exe + mark)
        seen[key] = seen.get(key, 0) + 1
    print(f'== {name}: workload: {result}')
    for (sc, comm, exe), n in sorted(seen.items()):
        print(f'   LOGGED {sc:<18} comm={comm:<16} exe={exe} x{n}')
    if not seen:
        print('   nothing logged')
    if 'FAILED' in str(result):
        print('   container log tail:', (logs.stdout + logs.stderr)[-600:].replace('\n', ' / '))
    # Records of pids never sampled in the cgroup whose exe is not in the image ('?')
    # may be another container's: shown, but only the others fail the run.
    return 'FAILED' in str(result) or any(not exe.endswith('?') for (_, _, exe) in seen)


if __name__ == '__main__':
    results = sys.argv[1]
    bad = [n for n in sys.argv[2:] if run(results, n)]
    if bad:
        print(f'deep: logged syscalls or failed workloads in: {" ".join(bad)}')
    sys.exit(1 if bad else 0)

// More than the probe's page: file I/O through the thread pool, fs.watch (inotify),
// a DNS lookup, zlib and crypto, a child process and a worker thread.
const http = require('http');
const fs = require('fs');
const zlib = require('zlib');
const crypto = require('crypto');
const dns = require('dns');
const { execFile } = require('child_process');
const { Worker } = require('worker_threads');
http.createServer(async (req, res) => {
  try {
    fs.writeFileSync('/tmp/a.txt', 'x'.repeat(100000));
    const w = fs.watch('/tmp', () => {});
    const data = await fs.promises.readFile('/tmp/a.txt');
    const gz = zlib.gzipSync(data);
    const h = crypto.createHash('sha256').update(gz).digest('hex');
    const addr = await new Promise((ok, ko) => dns.lookup('localhost', (e, a) => (e ? ko(e) : ok(a))));
    const year = await new Promise((ok, ko) => execFile('date', ['-u', '+%Y'], (e, o) => (e ? ko(e) : ok(o.trim()))));
    const wv = await new Promise((ok, ko) => {
      const wk = new Worker('const { parentPort } = require("worker_threads"); parentPort.postMessage(6 * 7);', { eval: true });
      wk.on('message', ok); wk.on('error', ko);
    });
    w.close();
    res.end(`deep ok ${h} ${addr} ${year} ${wv}\n`);
  } catch (e) {
    res.statusCode = 500;
    res.end(String(e));
  }
}).listen(8080, '0.0.0.0');

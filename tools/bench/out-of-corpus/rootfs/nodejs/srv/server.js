// A plain node:http server: the probe's GET / gets a fixed body.
const http = require('http');
http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('confine out-of-corpus image: nodejs\n');
}).listen(8080, '0.0.0.0');

// The baseline: a bare Node pass-through proxy with a keep-alive agent. No auth, no parsing, no
// validation; what any gateway costs is measured against this.
const http = require('node:http');

const [port, upstream] = [Number(process.argv[2] || 0), new URL(process.argv[3])];
// BENCH_MAX_SOCKETS: the live-streams group holds thousands of streams open at once.
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(process.env.BENCH_MAX_SOCKETS || 256) });

const server = http.createServer((req, res) => {
  const up = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers, agent }, (ur) => {
    res.writeHead(ur.statusCode, ur.headers);
    ur.pipe(res);
  });
  up.on('error', () => {
    res.writeHead(502);
    res.end();
  });
  req.pipe(up);
});
server.keepAliveTimeout = 65000;
server.listen(port, '127.0.0.1', () => process.send?.({ port: server.address().port }));

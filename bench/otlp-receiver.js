// A local OTLP/HTTP receiver for the telemetry benchmark: accepts trace exports (protobuf or JSON),
// answers 200 at once and counts what it got. Its own process, so it does not share an event loop
// with the gateway or the load generator.
const http = require('node:http');

let requests = 0;
let bytes = 0;
const server = http.createServer((req, res) => {
  req.on('data', (c) => (bytes += c.length));
  req.on('end', () => {
    requests++;
    const json = String(req.headers['content-type'] || '').includes('json');
    res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
    res.end(json ? '{}' : '');
  });
});
process.on('message', (m) => {
  if (m === 'stats') process.send?.({ stats: { exports: requests, bytes } });
});
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => process.send?.({ port: server.address().port }));

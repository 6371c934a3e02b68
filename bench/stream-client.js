// One of the live-streams group's client processes (each holds a few thousand sockets, so no one
// process needs more file descriptors than the limit allows). Opens its share of streams at a
// steady pace, counts those opened (first bytes received), those open now, those delivered complete
// (ending in message_stop) and those failed, and reports the counts over IPC until all have ended.
const http = require('node:http');

const { url, streams, perSecond, body, headers } = JSON.parse(process.argv[2]);
const target = new URL(url);
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
const counts = { opened: 0, live: 0, completed: 0, failed: 0, statuses: {}, errors: {} };

function open() {
  let first = true;
  let tail = '';
  let stopped = false;
  let settled = false;
  // Why each failed stream failed (an error code, 'timeout', or 'cut' for a stream that ended
  // without message_stop), so a run that falls short says what went wrong.
  const settle = (ok, why = 'cut') => {
    if (settled) return;
    settled = true;
    if (!first) counts.live--;
    if (ok) counts.completed++;
    else {
      counts.failed++;
      counts.errors[why] = (counts.errors[why] || 0) + 1;
    }
  };
  const req = http.request({ host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers, agent }, (res) => {
    counts.statuses[res.statusCode] = (counts.statuses[res.statusCode] || 0) + 1;
    res.setEncoding('utf8');
    res.on('data', (chunk) => {
      if (first) {
        first = false;
        counts.opened++;
        counts.live++;
      }
      // Only the end matters: keep enough of the last bytes to see an event split across chunks.
      tail = (tail + chunk).slice(-64);
      if (tail.includes('event: message_stop')) stopped = true;
    });
    res.on('end', () => settle(res.statusCode === 200 && stopped));
    res.on('error', (err) => settle(false, err.code || err.message));
    res.on('close', () => settle(false));
  });
  req.on('error', (err) => settle(false, err.code || err.message));
  // Deltas come every 500 ms: a minute of silence is a stream that will never end.
  req.setTimeout(60_000, () => {
    settle(false, 'timeout');
    req.destroy();
  });
  req.end(body);
}

let started = 0;
const began = Date.now();
const pacer = setInterval(() => {
  const due = Math.min(streams, Math.ceil(((Date.now() - began) / 1000) * perSecond));
  while (started < due) {
    started++;
    open();
  }
  if (started >= streams) clearInterval(pacer);
}, 20);

const report = setInterval(() => {
  process.send({ counts });
  if (counts.completed + counts.failed >= streams) {
    clearInterval(report);
    process.disconnect();
  }
}, 250);

// What a benchmarked process has used, read from Linux /proc (NaN elsewhere).
const { readFileSync } = require('node:fs');

/** User+system CPU milliseconds a process has used (clock ticks are 100 Hz on Linux). */
function cpuMs(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * (1000 / 100);
  } catch {
    return NaN;
  }
}

/** Resident set size in KiB. */
function rssKiB(pid) {
  try {
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  } catch {
    return NaN;
  }
}

/** This process's hard limit on open files (Node raises its soft limit to it at start-up). */
function nofileHardLimit() {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const hard = line.trim().split(/\s+/)[4];
    return hard === 'unlimited' ? Infinity : Number(hard);
  } catch {
    return Infinity;
  }
}

/** A port the OS says is free on loopback (random ones collided when a group starts several servers). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = require('node:net').createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

module.exports = { cpuMs, rssKiB, nofileHardLimit, freePort };

// Reads heap snapshots written by the livestreams group (BENCH_HEAP_SNAPSHOTS=<folder>) and prints,
// per constructor/type, the count and self size of objects divided by the streams open when the
// snapshot was taken (the number ending the file name): what each live stream keeps in the heap.
// With the idle snapshot written before the streams opened (…-idle.heapsnapshot) beside it, the
// idle heap is subtracted first, so start-up code and caches do not count.
// Usage: node bench/heap-per-stream.js FILE.heapsnapshot [TOP=30]
const fs = require('node:fs');

const file = process.argv[2];
const top = Number(process.argv[3] || 30);
const streams = Number(/-(\d+)\.heapsnapshot$/.exec(file)?.[1] || 1);
const idleFile = file.replace(/-\d+\.heapsnapshot$/, '-idle.heapsnapshot');

function tally(f) {
  const snap = JSON.parse(fs.readFileSync(f, 'utf8'));
  const {
    node_fields: fields,
    node_types: [types],
  } = snap.snapshot.meta;
  const width = fields.length;
  const at = (f) => fields.indexOf(f);
  const [iType, iName, iSize] = [at('type'), at('name'), at('self_size')];
  const groups = new Map();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]];
    const name = snap.strings[snap.nodes[i + iName]];
    // Strings and code are grouped by type (their names are their contents); objects by constructor.
    const key = type === 'object' || type === 'native' || type === 'closure' ? `${type}:${name.slice(0, 60)}` : type;
    const size = snap.nodes[i + iSize];
    total += size;
    const g = groups.get(key) ?? { count: 0, size: 0 };
    g.count++;
    g.size += size;
    groups.set(key, g);
  }
  return { groups, total };
}

const { groups, total } = tally(file);
let base = 0;
if (idleFile !== file && fs.existsSync(idleFile)) {
  const idle = tally(idleFile);
  base = idle.total;
  for (const [key, g] of idle.groups) {
    const l = groups.get(key) ?? { count: 0, size: 0 };
    groups.set(key, { count: l.count - g.count, size: l.size - g.size });
  }
}
console.log(
  `${file}: ${(total / 1024 / 1024).toFixed(1)} MiB heap (idle ${(base / 1024 / 1024).toFixed(1)}), ${streams} streams, ${((total - base) / 1024 / streams).toFixed(1)} KiB heap per stream`,
);
for (const [key, g] of [...groups].sort((a, b) => b[1].size - a[1].size).slice(0, top))
  console.log(`${(g.size / 1024 / streams).toFixed(2).padStart(8)} KiB ${(g.count / streams).toFixed(2).padStart(8)} /stream  ${key}`);

// Issue 15's targets, each checked against the ratio a group measured, printed under the table.

/** One target: `value op goal` (op '≥', '≤' or '<'), with `unit` for absolute values. */
function target(name, value, op, goal, unit = '×') {
  const pass = Number.isFinite(value) && (op === '≥' ? value >= goal : op === '≤' ? value <= goal : value < goal);
  return { name, value, op, goal, unit, pass };
}

function targetLines(targets) {
  if (!targets.length) return [];
  const pad = (s, n) => String(s).padEnd(n);
  const show = (x, unit) => (Number.isFinite(x) ? `${x.toFixed(unit === '×' || unit === 'ms' ? 2 : 0)}${unit === '×' ? '×' : ` ${unit}`}` : 'n/a');
  return [
    '',
    `| ${pad('target', 62)} | ${pad('measured', 10)} | ${pad('goal', 10)} | result |`,
    `|${'-'.repeat(64)}|${'-'.repeat(12)}|${'-'.repeat(12)}|--------|`,
    ...targets.map(
      (t) =>
        `| ${pad(t.name, 62)} | ${pad(show(t.value, t.unit), 10)} | ${pad(`${t.op} ${show(t.goal, t.unit)}`, 10)} | ${pad(Number.isFinite(t.value) ? (t.pass ? 'PASS' : 'MISS') : 'n/a', 6)} |`,
    ),
  ];
}

module.exports = { target, targetLines };

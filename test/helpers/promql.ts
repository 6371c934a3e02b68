/**
 * Offline PromQL checks for the dashboard and the chart's PrometheusRule (no PromQL parser is
 * installed here): the metric names an expression reads, and the bracket and quote balance a
 * parser would reject first.
 */

const FUNCTIONS_AND_KEYWORDS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'count_values',
  'group',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'rate',
  'irate',
  'increase',
  'delta',
  'idelta',
  'deriv',
  'histogram_quantile',
  'abs',
  'clamp_min',
  'clamp_max',
  'vector',
  'scalar',
  'time',
  'label_replace',
  'label_join',
  'sort',
  'sort_desc',
  'round',
  'ceil',
  'floor',
  'absent',
  'changes',
  'resets',
  'avg_over_time',
  'max_over_time',
  'min_over_time',
  'sum_over_time',
  'count_over_time',
  'last_over_time',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression reads: what remains once strings, label matchers, range
 * selectors, grouping clauses, Grafana variables, numbers, functions and keywords are removed.
 */
export function metricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names = new Set<string>();
  const re = /[a-zA-Z_:][a-zA-Z0-9_:]*/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) {
    const word = m[0];
    const before = s[m.index - 1];
    if (before && /[0-9.]/.test(before)) continue; // 1e9, 0.95
    if (/^\s*\(/.test(s.slice(m.index + word.length))) continue; // a function call
    if (FUNCTIONS_AND_KEYWORDS.has(word)) continue;
    names.add(word);
  }
  return [...names];
}

/** Unbalanced brackets or an unterminated string; empty when none. */
export function bracketProblems(expr: string): string[] {
  const s = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  if (/"/.test(s.replace(/""/g, ''))) return ['unterminated string'];
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  const stack: string[] = [];
  for (const c of s) {
    if ('([{'.includes(c)) stack.push(c);
    else if (c in pairs && stack.pop() !== pairs[c]) return [`unbalanced ${c}`];
  }
  return stack.length ? [`unclosed ${stack.join('')}`] : [];
}

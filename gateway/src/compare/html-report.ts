import { writeFileSync } from 'node:fs';
import type { Result } from './runner';
import type { ModelStats } from './stats';
import { statRows } from './format';
import { promptLabel, type PromptBody } from './prompts';

/** Everything that came from a model or a prompt file goes through here: answers are untrusted. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

// Inline style only: the page must read the same when opened from disk with no network.
const STYLE = `body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin-bottom:1em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
.grid{display:grid;gap:8px}.answer{border:1px solid #ccc;padding:6px;white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:13px}
.meta{color:#666;font-size:12px;font-family:system-ui,sans-serif;margin-bottom:4px}.error{background:#fee}
h2{font-size:16px;margin-top:2em}.prompt{white-space:pre-wrap;background:#f6f6f6;padding:6px}`;

export function renderReport(opts: {
  models: string[];
  prompts: PromptBody[];
  results: Result[];
  stats: ModelStats[];
  interrupted: boolean;
  generatedAt: Date;
}): string {
  const e = escapeHtml;
  const head = `<tr><th></th>${opts.stats.map((s) => `<th>${e(s.model)}</th>`).join('')}</tr>`;
  const rows = statRows(opts.stats)
    .map(([k, v]) => `<tr><th>${e(k)}</th>${v.map((c) => `<td>${e(c)}</td>`).join('')}</tr>`)
    .join('\n');
  const sections = opts.prompts
    .map((p, i) => {
      const cols = opts.models
        .map((m) => {
          const mine = opts.results.filter((r) => r.prompt === i && r.model === m);
          const answers = mine.length
            ? mine
                .map((r) => {
                  const meta = r.ok
                    ? `#${r.repeat + 1} · ${Math.round(r.latencyMs)} ms · ttft ${r.ttftMs === null ? 'n/a' : `${Math.round(r.ttftMs)} ms`} · ${r.usage.input_tokens}→${r.usage.output_tokens} tok · ${r.stopReason ?? 'null'}`
                    : `#${r.repeat + 1} · error ${r.error!.type}${r.status ? ` (HTTP ${r.status})` : ''}`;
                  return `<div class="answer${r.ok ? '' : ' error'}"><div class="meta">${e(meta)}</div>${e(r.ok ? r.text : r.error!.message)}</div>`;
                })
                .join('\n')
            : '<div class="meta">not run</div>';
          return `<div><h3>${e(m)}</h3>${answers}</div>`;
        })
        .join('\n');
      return `<section><h2>Prompt ${i + 1}</h2><div class="prompt">${e(promptLabel(p))}</div>\n<div class="grid" style="grid-template-columns:repeat(${opts.models.length},1fr)">\n${cols}\n</div></section>`;
    })
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>switchyard compare</title>
<style>${STYLE}</style>
</head>
<body>
<h1>switchyard compare</h1>
<p class="meta">${e(opts.generatedAt.toISOString())} · ${opts.prompts.length} prompt(s) · ${opts.results.length} answer(s)${opts.interrupted ? ' · interrupted: partial results' : ''}</p>
<table>
${head}
${rows}
</table>
${sections}
</body>
</html>
`;
}

export function writeReport(file: string, html: string): void {
  writeFileSync(file, html);
}

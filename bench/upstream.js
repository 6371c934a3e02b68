// A fast fake upstream for benchmarks: Anthropic JSON and SSE, OpenAI chat completions JSON and
// SSE, and Gemini generateContent / streamGenerateContent?alt=sse. Runs in its own process so it
// does not share an event loop with what it measures.
// BENCH_TRICKLE_MS turns every Anthropic stream into a live one for the live-streams group: one
// delta every BENCH_TRICKLE_MS (BENCH_TRICKLE_PHASE below) until the bench sends { trickle: 'end' } over IPC (from the next
// tick every stream ends, late ones included, until { trickle: 'live' }), or BENCH_TRICKLE_SECONDS
// (default 600) have passed.
const http = require('node:http');

const port = Number(process.argv[2] || 0);
const DELTAS = Number(process.env.BENCH_DELTAS || 20);
const TRICKLE_MS = Number(process.env.BENCH_TRICKLE_MS || 0);
const TRICKLE_TICKS = Math.max(1, Math.round((Number(process.env.BENCH_TRICKLE_SECONDS || 600) * 1000) / (TRICKLE_MS || 1)));

const message = JSON.stringify({
  id: 'msg_bench',
  type: 'message',
  role: 'assistant',
  model: 'bench-upstream',
  content: [{ type: 'text', text: 'Hello from the benchmark upstream.' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 25, output_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
});

const ev = (name, data) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
const anthropicStream = [
  ev('message_start', {
    type: 'message_start',
    message: {
      id: 'msg_bench',
      type: 'message',
      role: 'assistant',
      model: 'bench-upstream',
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 25, output_tokens: 1 },
    },
  }),
  ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  ...Array.from({ length: DELTAS }, (_, i) =>
    ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: `token${i} ` } }),
  ),
  ev('content_block_stop', { type: 'content_block_stop', index: 0 }),
  ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: DELTAS } }),
  ev('message_stop', { type: 'message_stop' }),
].join('');

const chunk = (delta, finish = null, usage) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'bench-upstream', choices: usage ? [] : [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: usage ?? null })}\n\n`;
const openaiStream = [
  chunk({ role: 'assistant', content: '' }),
  ...Array.from({ length: DELTAS }, (_, i) => chunk({ content: `token${i} ` })),
  chunk({}, 'stop'),
  chunk(null, null, { prompt_tokens: 25, completion_tokens: DELTAS, total_tokens: 25 + DELTAS }),
  'data: [DONE]\n\n',
].join('');
const openaiMessage = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1,
  model: 'bench-upstream',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the benchmark upstream.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 25, completion_tokens: 12, total_tokens: 37 },
});

// Gemini's SSE: `data:` lines framed with CRLF, no event names, no [DONE]; the end is the close.
const gchunk = (text, last) => ({
  candidates: [{ content: { role: 'model', parts: [{ text }] }, ...(last ? { finishReason: 'STOP' } : {}), index: 0 }],
  usageMetadata: last ? { promptTokenCount: 25, candidatesTokenCount: DELTAS, totalTokenCount: 25 + DELTAS } : { promptTokenCount: 25, totalTokenCount: 25 },
  modelVersion: 'gemini-2.5-flash',
  responseId: 'resp-bench',
});
const geminiStream = Array.from({ length: DELTAS }, (_, i) => `data: ${JSON.stringify(gchunk(`token${i} `, i === DELTAS - 1))}\r\n\r\n`).join('');
const geminiMessage = JSON.stringify({
  candidates: [{ content: { role: 'model', parts: [{ text: 'Hello from the benchmark upstream.' }] }, finishReason: 'STOP', index: 0 }],
  usageMetadata: { promptTokenCount: 25, candidatesTokenCount: 12, totalTokenCount: 37 },
  modelVersion: 'gemini-2.5-flash',
  responseId: 'resp-bench',
});

// Live streams share one timer. Each stream gets a delta every TRICKLE_MS, in the phase it opened
// in, as streams of a model started at different moments do: the period is cut into slots of
// SLOT_MS and one timer writes to the streams of the slots that came due. BENCH_TRICKLE_PHASE=burst
// puts every stream in one slot instead, so all of them get their delta in the same turn (the
// worst case: a proxy has the whole period's events to relay at once).
const SLOT_MS = 10;
const BURST = process.env.BENCH_TRICKLE_PHASE === 'burst';
let startLive = null;
if (TRICKLE_MS) {
  const [head, ...rest] = anthropicStream.split(/(?<=\n\n)/);
  const start = head + rest[0];
  const delta = rest[1];
  const end = rest.slice(-3).join('');
  const slots = Array.from({ length: Math.max(1, Math.round(TRICKLE_MS / SLOT_MS)) }, () => new Set());
  const slotAt = (ms) => (BURST ? 0 : Math.floor(ms / SLOT_MS) % slots.length);
  let ending = false;
  let done = Date.now();
  const tick = (slot) => {
    for (const s of slot) {
      if (s.res.destroyed) {
        slot.delete(s);
        continue;
      }
      if (ending || ++s.ticks >= TRICKLE_TICKS) {
        slot.delete(s);
        s.res.end(end);
      } else s.res.write(delta);
    }
  };
  // A late timer catches up on every slot that came due meanwhile, at most one period's worth.
  setInterval(() => {
    const now = Date.now();
    const from = Math.max(Math.floor(done / SLOT_MS) + 1, Math.floor(now / SLOT_MS) - slots.length + 1);
    for (let k = from; k <= Math.floor(now / SLOT_MS); k++) if (!BURST || k % slots.length === 0) tick(slots[slotAt(k * SLOT_MS)]);
    done = now;
  }, SLOT_MS);
  process.on('message', (m) => {
    if (m?.trickle) ending = m.trickle === 'end';
  });
  startLive = (res) => {
    res.write(start);
    slots[slotAt(Date.now())].add({ res, ticks: 0 });
  };
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    const stream = body.includes('"stream":true');
    const openai = req.url.includes('/chat/completions');
    if (req.url.includes(':streamGenerateContent')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(geminiStream);
    } else if (req.url.includes(':generateContent')) {
      res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(geminiMessage);
    } else if (stream && startLive && !openai) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      startLive(res);
    } else if (stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(openai ? openaiStream : anthropicStream);
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(openai ? openaiMessage : message);
    }
  });
});
server.keepAliveTimeout = 65000;
server.listen(port, '127.0.0.1', () => process.send?.({ port: server.address().port }));

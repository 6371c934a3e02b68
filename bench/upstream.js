// A fast fake upstream for benchmarks: Anthropic JSON and SSE, and OpenAI chat completions
// JSON and SSE. Runs in its own process so it does not share an event loop with what it measures.
const http = require('node:http');

const port = Number(process.argv[2] || 0);
const DELTAS = Number(process.env.BENCH_DELTAS || 20);

const message = JSON.stringify({
  id: 'msg_bench', type: 'message', role: 'assistant', model: 'bench-upstream',
  content: [{ type: 'text', text: 'Hello from the benchmark upstream.' }],
  stop_reason: 'end_turn', stop_sequence: null,
  usage: { input_tokens: 25, output_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
});

const ev = (name, data) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
const anthropicStream = [
  ev('message_start', { type: 'message_start', message: { id: 'msg_bench', type: 'message', role: 'assistant', model: 'bench-upstream', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 25, output_tokens: 1 } } }),
  ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  ...Array.from({ length: DELTAS }, (_, i) => ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: `token${i} ` } })),
  ev('content_block_stop', { type: 'content_block_stop', index: 0 }),
  ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: DELTAS } }),
  ev('message_stop', { type: 'message_stop' }),
].join('');

const chunk = (delta, finish = null, usage) => `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'bench-upstream', choices: usage ? [] : [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: usage ?? null })}\n\n`;
const openaiStream = [
  chunk({ role: 'assistant', content: '' }),
  ...Array.from({ length: DELTAS }, (_, i) => chunk({ content: `token${i} ` })),
  chunk({}, 'stop'),
  chunk(null, null, { prompt_tokens: 25, completion_tokens: DELTAS, total_tokens: 25 + DELTAS }),
  'data: [DONE]\n\n',
].join('');
const openaiMessage = JSON.stringify({
  id: 'chatcmpl-bench', object: 'chat.completion', created: 1, model: 'bench-upstream',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the benchmark upstream.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 25, completion_tokens: 12, total_tokens: 37 },
});

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    const stream = body.includes('"stream":true');
    const openai = req.url.includes('/chat/completions');
    if (stream) {
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

import { BatchStream, type BatchSink } from '../gateway/src/core/batch-stream';
import type { EventBatch } from '../gateway/src/core/upstream';

/** A producer that records what the stream asks of it; the test pushes batches as an upstream would. */
function producer() {
  const calls: string[] = [];
  const p = {
    calls,
    resume: () => calls.push('resume'),
    pause: () => calls.push('pause'),
    cancel: () => calls.push('cancel'),
  };
  const stream = new BatchStream(p);
  return { stream, calls };
}

const batch = (...names: string[]): EventBatch => names.map((event) => ({ event, raw: `event: ${event}\n\n` }));

function recorder(onBatch?: (b: EventBatch) => void) {
  const seen: string[] = [];
  const sink: BatchSink = {
    batch: (b) => {
      seen.push(b.map((e) => e.event).join('+'));
      onBatch?.(b);
    },
    end: () => seen.push('END'),
    error: (err) => seen.push(`ERROR ${(err as Error).message}`),
  };
  return { sink, seen };
}

describe('BatchStream, push side (the relay)', () => {
  test('batches reach the sink as they are pushed, then the end; the producer starts on consume', () => {
    const { stream, calls } = producer();
    const { sink, seen } = recorder();
    expect(calls).toEqual([]);
    stream.consume(sink);
    expect(calls).toEqual(['resume']);
    stream.push(batch('message_start'));
    stream.push(batch('content_block_delta', 'content_block_delta'));
    expect(seen).toEqual(['message_start', 'content_block_delta+content_block_delta']);
    stream.end();
    expect(seen.at(-1)).toBe('END');
    stream.push(batch('late'));
    stream.end();
    stream.fail(new Error('late'));
    expect(seen).toHaveLength(3);
  });

  test('a paused consumer holds the producer back; what arrives meanwhile is queued and delivered on resume, the end after it', () => {
    const { stream, calls } = producer();
    const { sink, seen } = recorder();
    stream.consume(sink);
    stream.pause();
    expect(calls).toEqual(['resume', 'pause']);
    stream.push(batch('a')); // already under way when the producer was paused
    stream.push(batch('b'));
    stream.end();
    expect(seen).toEqual([]);
    stream.resume();
    expect(seen).toEqual(['a', 'b', 'END']);
  });

  test('a sink that pauses inside batch() stops delivery at that batch', () => {
    const { stream } = producer();
    let pauseOn = 'b';
    const { sink, seen } = recorder((b) => {
      if (b[0].event === pauseOn) stream.pause();
    });
    stream.pause();
    stream.push(batch('a'));
    stream.push(batch('b'));
    stream.push(batch('c'));
    stream.consume(sink);
    expect(seen).toEqual([]);
    stream.resume();
    expect(seen).toEqual(['a', 'b']);
    pauseOn = '';
    stream.resume();
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  test('cancel lets the producer go and delivers nothing more', () => {
    const { stream, calls } = producer();
    const { sink, seen } = recorder();
    stream.consume(sink);
    stream.push(batch('a'));
    stream.cancel();
    stream.push(batch('b'));
    stream.fail(new Error('after'));
    expect(seen).toEqual(['a']);
    expect(calls).toEqual(['resume', 'cancel']);
  });

  test('a failure after queued batches reaches the sink after them', () => {
    const { stream } = producer();
    const { sink, seen } = recorder();
    stream.pause();
    stream.push(batch('a'));
    stream.fail(new Error('reset'));
    stream.consume(sink);
    expect(seen).toEqual([]);
    stream.resume();
    expect(seen).toEqual(['a', 'ERROR reset']);
  });

  test('a sink that throws hears its own error once and the producer is cancelled', () => {
    const { stream, calls } = producer();
    const { sink, seen } = recorder(() => {
      throw new Error('bug');
    });
    stream.consume(sink);
    stream.push(batch('a'));
    stream.push(batch('b'));
    stream.end();
    expect(seen).toEqual(['a', 'ERROR bug']);
    expect(calls).toEqual(['resume', 'cancel']);
  });
});

describe('BatchStream, pull side (priming, shadows)', () => {
  test('next() waits for a batch; batches nobody waits for are queued and the producer paused until the queue is empty', async () => {
    const { stream, calls } = producer();
    const first = stream.next();
    expect(calls).toEqual(['resume']);
    stream.push(batch('a'));
    expect(await first).toEqual({ value: batch('a'), done: false });
    stream.push(batch('b'));
    expect(calls).toEqual(['resume', 'pause']);
    stream.end();
    expect((await stream.next()).value).toEqual(batch('b'));
    expect(await stream.next()).toEqual({ value: undefined, done: true });
  });

  test('a batch taken with next() and put back with unshift() reaches a sink first, before later ones', async () => {
    const { stream } = producer();
    const pending = stream.next();
    stream.push(batch('message_start'));
    stream.push(batch('content_block_start'));
    const first = await pending;
    stream.unshift(first.value);
    const { sink, seen } = recorder();
    stream.consume(sink);
    expect(seen).toEqual(['message_start', 'content_block_start']);
    stream.push(batch('message_stop'));
    stream.end();
    expect(seen).toEqual(['message_start', 'content_block_start', 'message_stop', 'END']);
  });

  test('for await sees every batch and a failure as a rejection; break cancels the producer', async () => {
    const { stream } = producer();
    setImmediate(() => {
      stream.push(batch('a'));
      stream.push(batch('b'));
      stream.fail(new Error('cut'));
    });
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const b of stream) seen.push(b[0].event);
      })(),
    ).rejects.toThrow('cut');
    expect(seen).toEqual(['a', 'b']);

    const second = producer();
    setImmediate(() => second.stream.push(batch('x')));
    for await (const b of second.stream) {
      expect(b[0].event).toBe('x');
      break;
    }
    expect(second.calls.at(-1)).toBe('cancel');
  });
});

describe('BatchStream.of', () => {
  test('of() replays known batches and ends', async () => {
    const all: string[] = [];
    for await (const b of BatchStream.of(batch('a', 'b'), batch('c'))) all.push(b.map((e) => e.event).join('+'));
    expect(all).toEqual(['a+b', 'c']);
  });
});

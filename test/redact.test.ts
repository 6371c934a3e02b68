import { redact, redactJson, rememberSecret, secretsOf } from '../gateway/src/providers/redact';

/** The one redaction policy (gateway/src/providers/redact.ts) every provider and path uses. */
describe('redaction policy', () => {
  const key = 'upstream-secret-7f3a9c2e51';
  const secrets = secretsOf({ apiKey: key, headers: { 'openai-organization': 'org-Q7uK2bV9dLx', authorization: 'Bearer tok_9f8e7d6c5b4a', 'x-short': 'abc' } });

  test('the secrets of a target: its key, each header value and each word of one, none too short to redact safely', () => {
    expect(secrets).toEqual(expect.arrayContaining([key, 'org-Q7uK2bV9dLx', 'Bearer tok_9f8e7d6c5b4a', 'tok_9f8e7d6c5b4a']));
    expect(secrets).not.toContain('abc');
    expect(secrets).not.toContain('Bearer');
    expect(secretsOf(undefined)).toEqual([]);
  });

  test.each([
    ['the exact key', `invalid x-api-key: ${key}`, 'invalid x-api-key: [redacted]'],
    ['a header secret', 'token tok_9f8e7d6c5b4a expired', 'token [redacted] expired'],
    ['a masked form showing the tail', 'Incorrect API key provided: upst*******2e51.', 'Incorrect API key provided: [redacted].'],
    ['a masked form with dots', 'key upstre...', 'key [redacted]'],
    ['a masked form with an ellipsis', 'key …7f3a9c2e51 rejected', 'key [redacted] rejected'],
    ['an OpenAI key of anyone', 'leaked sk-proj-AbC123xyz', 'leaked [redacted]'],
    ['an Anthropic key of anyone', 'leaked sk-ant-api03-AbC123', 'leaked [redacted]'],
    ['a Google key', 'key AIzaSyD-abcdefghijklmnop not valid', 'key [redacted] not valid'],
    ['a Bearer token', 'Authorization: Bearer eyJhbGciOi.x-y_z', 'Authorization: Bearer [redacted]'],
    ['a Google OAuth access token', 'token ya29.a0AfB_byC-xyz123 expired', 'token [redacted] expired'],
  ])('%s', (_what, input, output) => {
    expect(redact(input, secrets)).toBe(output);
  });

  test('ordinary text, and masks that match no secret, are left alone', () => {
    const text = 'Overloaded... please retry in 30 s; model claude-x ** beta ** and task-force';
    expect(redact(text, secrets)).toBe(text);
    expect(redact('abc...wxyz', secrets)).toBe('abc...wxyz');
  });

  test('JSON stays JSON, and is the same buffer when nothing was redacted', () => {
    const raw = Buffer.from(JSON.stringify({ type: 'error', error: { type: 'authentication_error', message: `bad key ${key} (upst…2e51)` } }));
    expect(JSON.parse(redactJson(raw, secrets).toString()).error.message).toBe('bad key [redacted] ([redacted])');
    const clean = Buffer.from('{"type":"error","error":{"type":"api_error","message":"boom"}}');
    expect(redactJson(clean, secrets)).toBe(clean);
  });

  test('a credential fetched at run time joins the target’s secrets (whole and masked); the last few are kept', () => {
    const target = { googleServiceAccount: undefined };
    expect(secretsOf(target)).toEqual([]);
    rememberSecret(target, 'tok-fetched-0001-abcdef');
    expect(redact('sent tok-fetched-0001-abcdef, i.e. tok-...cdef', secretsOf(target))).toBe('sent [redacted], i.e. [redacted]');
    for (let i = 2; i <= 5; i++) rememberSecret(target, `tok-fetched-000${i}-abcdef`);
    expect(secretsOf(target)).toHaveLength(4);
    expect(secretsOf(target)).not.toContain('tok-fetched-0001-abcdef');
    rememberSecret(target, 'short');
    expect(secretsOf(target)).not.toContain('short');
  });
});

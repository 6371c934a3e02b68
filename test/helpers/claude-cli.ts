import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The real Claude Code CLI, a devDependency: the truest compatibility check there is. */
export const CLAUDE = join(__dirname, '..', '..', 'node_modules', '.bin', 'claude');

/**
 * Runs `claude -p PROMPT --output-format json` against a gateway, in a fresh HOME so no user
 * settings leak in, with everything but the API calls switched off.
 */
export function runClaude(baseURL: string, apiKey: string, prompt: string, extra: string[] = []): Promise<{ code: number | null; out: string; err: string }> {
  const home = mkdtempSync(join(tmpdir(), 'claude-home-'));
  const child = spawn(CLAUDE, ['-p', prompt, '--output-format', 'json', ...extra], {
    cwd: home,
    env: {
      PATH: process.env.PATH,
      HOME: home,
      ANTHROPIC_BASE_URL: baseURL,
      ANTHROPIC_API_KEY: apiKey,
      DISABLE_TELEMETRY: '1',
      DISABLE_AUTOUPDATER: '1',
      DISABLE_ERROR_REPORTING: '1',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  return new Promise((resolve) => child.on('exit', (code) => (clearTimeout(timer), resolve({ code, out, err }))));
}

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { K8sObject } from '../../gateway/src/config/k8s-object';
import { apiKey, modelRoute, secret } from './gateway';

/** The real Claude Code CLI, a devDependency: the truest compatibility check there is. */
export const CLAUDE = join(__dirname, '..', '..', 'node_modules', '.bin', 'claude');

/**
 * Runs `claude -p PROMPT --output-format json` against a gateway, in a fresh HOME so no user
 * settings leak in, with everything but the API calls switched off. `settings` become the user's
 * ~/.claude/settings.json (e.g. an apiKeyHelper; then pass apiKey '' so no ANTHROPIC_API_KEY is set).
 */
export function runClaude(
  baseURL: string,
  apiKey: string,
  prompt: string,
  extra: string[] = [],
  settings?: object,
): Promise<{ code: number | null; out: string; err: string }> {
  const home = mkdtempSync(join(tmpdir(), 'claude-home-'));
  if (settings) {
    mkdirSync(join(home, '.claude'));
    writeFileSync(join(home, '.claude', 'settings.json'), JSON.stringify(settings));
  }
  const child = spawn(CLAUDE, ['-p', prompt, '--output-format', 'json', ...extra], {
    cwd: home,
    env: {
      PATH: process.env.PATH,
      HOME: home,
      ANTHROPIC_BASE_URL: baseURL,
      ...(apiKey ? { ANTHROPIC_API_KEY: apiKey } : {}),
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

/** The model names Claude Code may ask for by default; each is also served under its dated alias. */
const CLAUDE_CODE_MODELS = ['claude-opus-4-8', 'claude-sonnet-4-6', 'claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-opus-4-7', 'claude-opus-4-6'];

/**
 * A configuration for the CLI tests: a route per model name Claude Code may use, each to
 * `target(model)`, and the client key allowed `claude-*`, so the tests do not depend on the CLI's
 * defaults. The Secret `keys` holds the client key under `client`, plus `upstreamKeys`.
 */
export function claudeCodeConfig(
  clientKey: string,
  target: (model: string) => object,
  o: { upstreamKeys?: Record<string, string>; routePrefix?: string } = {},
): K8sObject[] {
  return [
    secret('keys', { client: clientKey, ...o.upstreamKeys }),
    ...CLAUDE_CODE_MODELS.map((m) =>
      modelRoute(`${o.routePrefix ?? ''}${m.replace(/\./g, '-')}`, { model: m, aliases: [`${m}-20251001`], targets: [target(m)] }),
    ),
    apiKey('claude-code', { secretRef: { name: 'keys', key: 'client' }, allowedModels: ['claude-*'] }),
  ];
}

import { TranslationError } from '../translation-error';
import type { OpenAIOptions } from './options';

import type { ContentPart as Part } from './wire';

export type { Part };

/** Text of a `system` value or a system message: a string or text blocks. */
export function systemText(content: unknown, path: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((b: any, i: number) => {
      if (b?.type !== 'text') throw new TranslationError(`${path}.${i}: system content must be text blocks, got '${b?.type}'`);
      return b.text as string;
    })
    .join('\n\n');
}

/**
 * One user-side block as Chat Completions parts. Images, PDFs and plain-text documents map
 * directly; what the target cannot take is a 400 that names the block, never a silent drop,
 * because the model would answer without having seen it.
 */
export function userParts(b: any, path: string, opts: OpenAIOptions): Part[] {
  switch (b?.type) {
    case 'text':
      return [{ type: 'text', text: b.text }];
    case 'image':
      return [imagePart(b.source, path, opts)];
    case 'document':
      return documentParts(b, path, opts);
    case 'search_result':
      return [{ type: 'text', text: [b.title, b.source, ...textsOf(b.content)].filter(Boolean).join('\n') }];
    case 'thinking':
    case 'redacted_thinking':
      return [];
    default:
      throw new TranslationError(`${path}: content block type '${b?.type}' cannot be sent to an OpenAI-compatible target`);
  }
}

function imagePart(source: any, path: string, opts: OpenAIOptions): Part {
  if (!opts.images) throw new TranslationError(`${path}: this model's OpenAI-compatible target does not accept images`);
  if (source?.type === 'base64') return { type: 'image_url', image_url: { url: `data:${source.media_type};base64,${source.data}` } };
  if (source?.type === 'url') return { type: 'image_url', image_url: { url: source.url } };
  throw new TranslationError(
    `${path}.source: image source '${source?.type}' (Anthropic Files API) cannot be sent to an OpenAI-compatible target; send the image as base64 or a URL`,
  );
}

function documentParts(b: any, path: string, opts: OpenAIOptions): Part[] {
  const s = b.source;
  const titled = (text: string): Part => ({ type: 'text', text: b.title ? `${b.title}\n\n${text}` : text });
  switch (s?.type) {
    case 'text':
      return [titled(s.data)];
    case 'content':
      if (typeof s.content === 'string') return [titled(s.content)];
      return (s.content as any[]).flatMap((x, i) => userParts(x, `${path}.source.content.${i}`, opts));
    case 'base64':
      if (!opts.pdf) throw new TranslationError(`${path}: this model's OpenAI-compatible target does not accept PDF documents`);
      return [{ type: 'file', file: { file_data: `data:application/pdf;base64,${s.data}`, filename: pdfName(b.title) } }];
    default:
      throw new TranslationError(`${path}.source: document source '${s?.type}' cannot be sent to an OpenAI-compatible target; send the PDF as base64`);
  }
}

function pdfName(title: unknown): string {
  const base =
    typeof title === 'string'
      ? title
          .replace(/[^\w .-]+/g, '')
          .trim()
          .slice(0, 100)
      : '';
  return `${base || 'document'}${base.toLowerCase().endsWith('.pdf') ? '' : '.pdf'}`;
}

function textsOf(content: unknown): string[] {
  if (typeof content === 'string') return [content];
  return Array.isArray(content) ? content.filter((x: any) => x?.type === 'text').map((x: any) => x.text as string) : [];
}

/**
 * A tool_result's content as a tool message's text plus the parts a tool message cannot carry
 * (OpenAI tool messages are text only): those go to the user message that follows.
 */
export function toolResultContent(b: any, path: string, opts: OpenAIOptions): { text: string; extra: Part[] } {
  const texts: string[] = [];
  const extra: Part[] = [];
  if (typeof b.content === 'string') texts.push(b.content);
  else if (Array.isArray(b.content)) {
    b.content.forEach((x: any, i: number) => {
      if (x?.type === 'tool_reference') return; // tool-search bookkeeping, nothing for the model
      for (const p of userParts(x, `${path}.content.${i}`, opts)) {
        if (p.type === 'text') texts.push(p.text);
        else extra.push(p);
      }
    });
  }
  let text = texts.join('\n');
  if (extra.length) text += `${text ? '\n' : ''}(${extra.length} attachment${extra.length > 1 ? 's' : ''} from this result follow in the next user message)`;
  // Chat Completions has no error flag on tool messages; the model must still learn the call failed.
  if (b.is_error) text = text ? `Error: ${text}` : 'Error';
  return { text, extra };
}

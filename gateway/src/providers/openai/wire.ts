/**
 * The parts of the Chat Completions wire format this provider writes and reads, as OpenAI
 * documents it plus the fields compatible servers add (`reasoning_content` from vLLM/DeepSeek,
 * `reasoning` from Ollama/OpenRouter, vLLM's matched `stop_reason`). Replies come from servers
 * of varying fidelity, so every reply field is optional and the translators check each before use.
 */

/** A user content part. */
export type ContentPart =
  { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } } | { type: 'file'; file: { file_data: string; filename: string } };

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export type ChatMessage =
  | { role: 'system' | 'developer'; content: string }
  | { role: 'user'; content: string | ContentPart[] }
  | { role: 'assistant'; content: string | null; tool_calls?: ToolCall[]; reasoning_content?: string; reasoning?: string }
  | { role: 'tool'; tool_call_id: string; content: string };

export interface ChatTool {
  type: 'function';
  function: { name: string; description?: string; parameters: unknown };
}

export type ToolChoice = 'auto' | 'required' | 'none' | { type: 'function'; function: { name: string } };

/** POST {baseURL}/chat/completions. The max-tokens field and the end-user field are per-target options. */
export interface ChatCompletionRequest {
  model: string;
  messages: ChatMessage[];
  n: 1;
  tools?: ChatTool[];
  tool_choice?: ToolChoice;
  parallel_tool_calls?: boolean;
  max_completion_tokens?: number;
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  stop?: string[];
  user?: string;
  safety_identifier?: string;
  reasoning_effort?: 'low' | 'medium' | 'high';
  response_format?: { type: 'json_schema'; json_schema: { name: string; schema: unknown } };
  stream?: true;
  stream_options?: { include_usage: true };
}

export interface Usage {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number; cache_write_tokens?: number };
  /** DeepSeek's name for cached prompt tokens. */
  prompt_cache_hit_tokens?: number;
}

/** `stop`, `length`, `tool_calls`, `content_filter`, `function_call`; vLLM/llama.cpp add `error`, `abort`. */
export type FinishReason = string | null;

/** An assistant message (non-streamed) or the delta of one (streamed). */
export interface AssistantMessage {
  role?: string;
  content?: string | Array<{ type?: string; text?: string }> | null;
  refusal?: string | null;
  reasoning_content?: string | null;
  reasoning?: string | null;
  tool_calls?: Array<{ index?: number; id?: string; type?: 'function'; function?: { name?: string; arguments?: string } }>;
}

export interface Choice {
  index?: number;
  message?: AssistantMessage;
  finish_reason?: FinishReason;
  /** vLLM: the stop sequence that matched. */
  stop_reason?: string | number | null;
}

export interface ChatCompletion {
  id?: string;
  model?: string;
  choices?: Choice[];
  usage?: Usage;
}

export interface ChunkChoice {
  index?: number;
  delta?: AssistantMessage;
  finish_reason?: FinishReason;
  stop_reason?: string | number | null;
}

/** One `data:` object of a stream. Azure opens with a prompt-filter chunk that has no choices. */
export interface ChatCompletionChunk {
  id?: string;
  model?: string;
  choices?: ChunkChoice[];
  usage?: Usage | null;
  /** A mid-stream failure (OpenAI's error object, vLLM's class name and integer code). */
  error?: ChatError;
}

export interface ChatError {
  message?: string;
  type?: string;
  code?: string | number | null;
  param?: string | null;
}

/** A non-2xx body: `{"error": {...}}` (OpenAI, Azure), vLLM's flat `{"object":"error",...}`, FastAPI's `{"detail": ...}`. */
export interface ErrorBody {
  error?: ChatError | string;
  message?: string;
  detail?: unknown;
}

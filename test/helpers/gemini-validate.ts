/**
 * The request checks Gemini's API is documented (and reported) to make, with its wording, so the
 * fake Gemini server rejects what the real one would: unknown fields anywhere (protobuf JSON),
 * roles other than user/model, empty parts or text, unpaired function calls and responses,
 * schema keys outside the `parameters` subset, and missing or forged thought signatures on a
 * Gemini 3 model's current turn.
 */
const TOP = ['contents', 'systemInstruction', 'tools', 'toolConfig', 'safetySettings', 'generationConfig', 'cachedContent', 'serviceTier'];
const PART_DATA = ['text', 'inlineData', 'fileData', 'functionCall', 'functionResponse', 'executableCode', 'codeExecutionResult'];
const PART_META = ['thought', 'thoughtSignature', 'videoMetadata', 'mediaResolution', 'partMetadata'];
const GENERATION = [
  'maxOutputTokens',
  'temperature',
  'topP',
  'topK',
  'stopSequences',
  'candidateCount',
  'seed',
  'presencePenalty',
  'frequencyPenalty',
  'responseMimeType',
  'responseSchema',
  'responseJsonSchema',
  'responseModalities',
  'thinkingConfig',
];
const SCHEMA_KEYS = [
  'type',
  'format',
  'title',
  'description',
  'nullable',
  'enum',
  'items',
  'minItems',
  'maxItems',
  'properties',
  'required',
  'minProperties',
  'maxProperties',
  'propertyOrdering',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'pattern',
  'example',
  'default',
  'anyOf',
];
const TYPES = ['STRING', 'NUMBER', 'INTEGER', 'BOOLEAN', 'ARRAY', 'OBJECT', 'NULL'];
export const BYPASS_SIGNATURES = ['skip_thought_signature_validator', 'context_engineering_is_the_way_to_go'];

const unknown = (name: string, at: string) => `Invalid JSON payload received. Unknown name "${name}" at '${at}': Cannot find field.`;
const isObj = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The first problem Gemini would report for a `parameters` schema (OpenAPI subset), or undefined. */
export function schemaViolation(s: unknown, at: string): string | undefined {
  if (!isObj(s)) return `${at}: schema must be an object`;
  for (const k of Object.keys(s)) if (!SCHEMA_KEYS.includes(k)) return unknown(k, at);
  if (Array.isArray(s.type)) return `Invalid JSON payload received. Proto field is not repeating, cannot start list. at '${at}.type'`;
  if (s.type !== undefined && !TYPES.includes(String(s.type).toUpperCase()))
    return `Invalid value at '${at}.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), "${s.type}"`;
  const type = typeof s.type === 'string' ? s.type.toUpperCase() : undefined;
  if (s.anyOf !== undefined && Object.keys(s).length > 1) return `* ${at}.any_of: when using any_of, it must be the only field set`;
  if (type === 'STRING' && s.format !== undefined && !['enum', 'date-time'].includes(s.format))
    return `* ${at}.format: only 'enum' and 'date-time' are supported for STRING type`;
  if (s.enum !== undefined && (!Array.isArray(s.enum) || s.enum.some((v: unknown) => typeof v !== 'string' || v === '')))
    return `Invalid value at '${at}.enum' (TYPE_STRING)`;
  if (type === 'OBJECT' && s.properties !== undefined && Object.keys(s.properties).length === 0)
    return `* ${at}.properties: should be non-empty for OBJECT type`;
  if (Array.isArray(s.required)) {
    for (const r of s.required) if (!isObj(s.properties) || !(r in s.properties)) return `* ${at}.required[${r}]: property is not defined`;
  }
  if (type === 'ARRAY' && s.items === undefined) return `* ${at}.items: missing field.`;
  if (isObj(s.properties)) {
    for (const [k, v] of Object.entries(s.properties)) {
      const e = schemaViolation(v, `${at}.properties[${k}].value`);
      if (e) return e;
    }
  }
  if (s.items !== undefined) {
    const e = schemaViolation(s.items, `${at}.items`);
    if (e) return e;
  }
  if (Array.isArray(s.anyOf)) {
    for (let i = 0; i < s.anyOf.length; i++) {
      const e = schemaViolation(s.anyOf[i], `${at}.any_of[${i}]`);
      if (e) return e;
    }
  }
  return undefined;
}

export interface SignatureCheck {
  /** Signatures this fake handed out; anything else is "corrupted". */
  issued: Set<string>;
  /** Whether the model enforces signatures on the current turn's calls (Gemini 3). */
  enforce: boolean;
}

/** The first problem Gemini would report for a generateContent body, or undefined. */
export function requestViolation(body: any, sig: SignatureCheck): string | undefined {
  if (!isObj(body)) return 'Invalid JSON payload received.';
  for (const k of Object.keys(body)) if (!TOP.includes(k)) return unknown(k, '');
  if (!Array.isArray(body.contents) || body.contents.length === 0) return '* GenerateContentRequest.contents: contents is not specified';
  if (body.systemInstruction !== undefined) {
    const e = partsViolation(body.systemInstruction.parts, 'system_instruction');
    if (e) return e;
  }
  for (let i = 0; i < body.contents.length; i++) {
    const c = body.contents[i];
    if (c.role !== 'user' && c.role !== 'model') return 'Please use a valid role: user, model.';
    const e = partsViolation(c.parts, `contents[${i}]`);
    if (e) return e;
    const calls = c.parts.filter((p: any) => p.functionCall).length;
    const next = body.contents[i + 1];
    if (c.role === 'model' && calls > 0 && next) {
      const responses = next.role === 'user' ? next.parts.filter((p: any) => p.functionResponse).length : 0;
      if (responses !== calls)
        return 'Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.';
    }
  }
  return toolsViolation(body) ?? generationViolation(body.generationConfig) ?? signatureViolation(body.contents, sig);
}

function partsViolation(parts: unknown, at: string): string | undefined {
  if (!Array.isArray(parts) || parts.length === 0) return `* GenerateContentRequest.${at}.parts: contents.parts must not be empty.`;
  for (let j = 0; j < parts.length; j++) {
    const p = parts[j];
    for (const k of Object.keys(p)) if (!PART_DATA.includes(k) && !PART_META.includes(k)) return unknown(k, `${at}.parts[${j}]`);
    const data = PART_DATA.filter((k) => p[k] !== undefined && p[k] !== '');
    if (data.length !== 1) return `* GenerateContentRequest.${at}.parts[${j}].data: required oneof field 'data' must have one initialized field`;
    if (p.inlineData && !/^(image\/(png|jpeg|webp|heic|heif)|application\/pdf|audio\/|video\/|text\/)/.test(p.inlineData.mimeType))
      return `Unsupported MIME type: ${p.inlineData.mimeType}`;
    if (p.functionResponse) {
      if (!p.functionResponse.name) return `* GenerateContentRequest.${at}.parts[${j}].function_response.name: Name cannot be empty.`;
      if (!isObj(p.functionResponse.response)) return `* GenerateContentRequest.${at}.parts[${j}].function_response.response: must be an object`;
    }
    if (p.functionCall && !p.functionCall.name) return `* GenerateContentRequest.${at}.parts[${j}].function_call.name: Name cannot be empty.`;
  }
  return undefined;
}

function toolsViolation(body: any): string | undefined {
  for (const [i, tool] of (body.tools ?? []).entries()) {
    for (const k of Object.keys(tool)) if (k !== 'functionDeclarations') return unknown(k, `tools[${i}]`);
    for (const [j, d] of tool.functionDeclarations.entries()) {
      const at = `tools[${i}].function_declarations[${j}]`;
      for (const k of Object.keys(d))
        if (!['name', 'description', 'parameters', 'parametersJsonSchema', 'response', 'responseJsonSchema', 'behavior'].includes(k)) return unknown(k, at);
      if (!/^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/.test(d.name ?? '')) return `* GenerateContentRequest.${at}.name: Invalid function name.`;
      if (d.parameters !== undefined && d.parametersJsonSchema !== undefined)
        return `* GenerateContentRequest.${at}: parameters and parameters_json_schema are mutually exclusive`;
      if (d.parameters !== undefined) {
        if (String(d.parameters.type).toUpperCase() !== 'OBJECT') return `* GenerateContentRequest.${at}.parameters.type: must be OBJECT`;
        const e = schemaViolation(d.parameters, `${at}.parameters`);
        if (e) return e;
      }
      if (d.parametersJsonSchema !== undefined && d.parametersJsonSchema.type !== 'object')
        return `* GenerateContentRequest.${at}.parameters_json_schema: root must be an object schema`;
    }
  }
  const fc = body.toolConfig?.functionCallingConfig;
  if (fc && !['AUTO', 'ANY', 'NONE', 'VALIDATED'].includes(fc.mode)) return `Invalid value at 'tool_config.function_calling_config.mode', "${fc.mode}"`;
  if (fc?.allowedFunctionNames && fc.mode !== 'ANY')
    return '* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: only allowed with mode ANY';
  return undefined;
}

function generationViolation(g: any): string | undefined {
  if (g === undefined) return undefined;
  for (const k of Object.keys(g)) if (!GENERATION.includes(k)) return unknown(k, 'generation_config');
  if (g.stopSequences && g.stopSequences.length > 5) return '* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences are allowed';
  const t = g.thinkingConfig;
  if (t) {
    for (const k of Object.keys(t))
      if (!['thinkingBudget', 'thinkingLevel', 'includeThoughts'].includes(k)) return unknown(k, 'generation_config.thinking_config');
    if (t.thinkingBudget !== undefined && t.thinkingLevel !== undefined) return 'You can only set only one of thinking budget and thinking level.';
  }
  return undefined;
}

function signatureViolation(contents: any[], sig: SignatureCheck): string | undefined {
  for (const c of contents) {
    for (const p of c.parts) {
      if (p.thoughtSignature !== undefined && !sig.issued.has(p.thoughtSignature) && !BYPASS_SIGNATURES.includes(p.thoughtSignature))
        return 'Corrupted thought signature.';
    }
  }
  if (!sig.enforce) return undefined;
  // The current turn: model steps since the last user turn that says something (not only function responses).
  let start = 0;
  contents.forEach((c, i) => {
    if (c.role === 'user' && c.parts.some((p: any) => !p.functionResponse)) start = i + 1;
  });
  for (let i = start; i < contents.length; i++) {
    const c = contents[i];
    if (c.role !== 'model') continue;
    const first = c.parts.findIndex((p: any) => p.functionCall);
    if (first >= 0 && !c.parts[first].thoughtSignature) {
      return `Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call \`default_api:${c.parts[first].functionCall.name}\` , position ${first + 1}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.`;
    }
  }
  return undefined;
}

import { badRequest } from '../errors.js';
import { checkJsonDepth } from './json-value.js';
import {
  type ContentPart,
  type ContextConfig,
  ROLES,
  type Role,
  type ToolCall,
  type ToolResult,
} from './types.js';

/**
 * Validation of request input. Each parser takes `unknown` (parsed JSON or query values)
 * and returns a typed value or throws a 400 AppError naming the offending field.
 * Free-form values that are stored as sent (`parameters`, a tool call's `arguments` and
 * `ui_hints`, `tool_result.result`) pass `checkJsonDepth`: their nesting is counted from the
 * value itself, wherever it sits in the request (the body walk checked every other rule).
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BRANCH_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const MAX_PAGE_LIMIT = 1000;
export const DEFAULT_PAGE_LIMIT = 50;

type Json = Record<string, unknown>;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** A UUID as ids are kept (lower case); undefined for anything else. */
export function canonicalUuid(value: string): string | undefined {
  return isUuid(value) ? value.toLowerCase() : undefined;
}

export function requireUuid(value: string, what = 'context id'): string {
  const id = canonicalUuid(value);
  if (id === undefined) throw badRequest(`${what} must be a UUID, got "${value}"`, 'invalid_id');
  return id;
}

export function requireObject(body: unknown, what = 'request body'): Json {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest(`${what} must be a JSON object`);
  }
  return body as Json;
}

function requireString(obj: Json, field: string, opts: { max?: number } = {}): string {
  const value = obj[field];
  if (value === undefined || value === null) throw badRequest(`"${field}" is required`);
  if (typeof value !== 'string') throw badRequest(`"${field}" must be a string`);
  if (value.length === 0) throw badRequest(`"${field}" must not be empty`);
  if (opts.max !== undefined && value.length > opts.max) {
    throw badRequest(`"${field}" must be at most ${opts.max} characters`);
  }
  return value;
}

function optionalString(obj: Json, field: string): string | null | undefined {
  const value = obj[field];
  if (value === undefined) return undefined;
  if (value === null) return null;
  if (typeof value !== 'string') throw badRequest(`"${field}" must be a string or null`);
  return value;
}

/** A free-form object stored as sent: its own nesting is limited (`checkJsonDepth`). */
function optionalPlainObject(obj: Json, field: string): Json | undefined {
  const value = obj[field];
  if (value === undefined) return undefined;
  const object = requireObject(value, `"${field}"`);
  checkJsonDepth(object, `"${field}"`);
  return object;
}

export function requireBranchName(value: unknown, field = 'branch'): string {
  if (typeof value !== 'string' || !BRANCH_NAME.test(value)) {
    throw badRequest(
      `"${field}" must be 1-64 characters of letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  }
  return value;
}

export function parseCreateContext(body: unknown): ContextConfig {
  const obj = requireObject(body);
  return {
    model_id: requireString(obj, 'model_id', { max: 256 }),
    mode: requireString(obj, 'mode', { max: 64 }),
    parameters: optionalPlainObject(obj, 'parameters') ?? {},
    system_prompt_id: optionalString(obj, 'system_prompt_id') ?? null,
  };
}

export interface ContextUpdate {
  config: Partial<ContextConfig>;
  active_branch_name?: string;
}

/**
 * `PUT /contexts/{id}`: a partial update of config fields and the active branch. A whole
 * context DTO is accepted too: its `config` object is read and immutable fields ignored.
 */
export function parseUpdateContext(body: unknown): ContextUpdate {
  const obj = requireObject(body);
  const source = obj.config === undefined ? obj : requireObject(obj.config, '"config"');
  const config: Partial<ContextConfig> = {};
  if (source.model_id !== undefined) config.model_id = requireString(source, 'model_id');
  if (source.mode !== undefined) config.mode = requireString(source, 'mode');
  const parameters = optionalPlainObject(source, 'parameters');
  if (parameters !== undefined) config.parameters = parameters;
  const promptId = optionalString(source, 'system_prompt_id');
  if (promptId !== undefined) config.system_prompt_id = promptId;
  const update: ContextUpdate = { config };
  if (obj.active_branch_name !== undefined) {
    update.active_branch_name = requireBranchName(obj.active_branch_name, 'active_branch_name');
  }
  return update;
}

export function parseContent(value: unknown): ContentPart[] {
  if (typeof value === 'string') return [{ type: 'text', text: value }];
  if (!Array.isArray(value) || value.length === 0) {
    throw badRequest('"content" must be a string or a non-empty array of content parts');
  }
  return value.map((part, i) => parseContentPart(part, i));
}

function parseContentPart(part: unknown, index: number): ContentPart {
  const obj = requireObject(part, `content[${index}]`);
  if (obj.type === 'text') {
    if (typeof obj.text !== 'string') throw badRequest(`content[${index}].text must be a string`);
    return { type: 'text', text: obj.text };
  }
  if (obj.type === 'image') {
    if (typeof obj.url !== 'string' || obj.url.length === 0) {
      throw badRequest(`content[${index}].url must be a non-empty string`);
    }
    const detail = obj.detail;
    if (detail === undefined) return { type: 'image', url: obj.url };
    if (detail !== 'auto' && detail !== 'low' && detail !== 'high') {
      throw badRequest(`content[${index}].detail must be "auto", "low" or "high"`);
    }
    return { type: 'image', url: obj.url, detail };
  }
  throw badRequest(`content[${index}].type must be "text" or "image"`);
}

function parseRole(value: unknown): Role {
  if (value === undefined) throw badRequest('"role" is required');
  if (typeof value !== 'string' || !(ROLES as readonly string[]).includes(value)) {
    throw badRequest(`"role" must be one of ${ROLES.join(', ')}`, 'invalid_role');
  }
  return value as Role;
}

function parseToolCalls(value: unknown): ToolCall[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value)) throw badRequest('"tool_calls" must be an array');
  return value.map((raw, i) => {
    const call = requireObject(raw, `tool_calls[${i}]`);
    const uiHints = call.ui_hints;
    if (uiHints !== undefined && uiHints !== null) {
      checkJsonDepth(
        requireObject(uiHints, `tool_calls[${i}].ui_hints`),
        `tool_calls[${i}].ui_hints`,
      );
    }
    checkJsonDepth(call.arguments, `tool_calls[${i}].arguments`);
    const display = call.display_preference ?? 'Default';
    if (display !== 'Default' && display !== 'Collapsible' && display !== 'Hidden') {
      throw badRequest(`tool_calls[${i}].display_preference is not valid`);
    }
    return {
      id: requireString(call, 'id', { max: 128 }),
      tool_name: requireString(call, 'tool_name', { max: 128 }),
      arguments: call.arguments ?? {},
      approval_status: 'Pending',
      display_preference: display,
      ui_hints: (uiHints as Record<string, unknown> | undefined) ?? null,
    };
  });
}

function parseToolResult(value: unknown): ToolResult | null {
  if (value === undefined || value === null) return null;
  const obj = requireObject(value, '"tool_result"');
  checkJsonDepth(obj.result, 'tool_result.result');
  return { request_id: requireString(obj, 'request_id'), result: obj.result ?? null };
}

export interface NewMessage {
  role: Role;
  content: ContentPart[];
  branch: string | undefined;
  tool_calls: ToolCall[] | null;
  tool_result: ToolResult | null;
}

export function parseNewMessage(body: unknown): NewMessage {
  const obj = requireObject(body);
  const role = parseRole(obj.role);
  if (obj.content === undefined) throw badRequest('"content" is required');
  return {
    role,
    content: parseContent(obj.content),
    branch: obj.branch === undefined ? undefined : requireBranchName(obj.branch),
    tool_calls: role === 'assistant' ? parseToolCalls(obj.tool_calls) : null,
    tool_result: role === 'tool' ? parseToolResult(obj.tool_result) : null,
  };
}

function parseNonNegativeInt(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d{1,9}$/.test(raw)) {
    throw badRequest(`"${name}" must be a non-negative integer`, 'invalid_query');
  }
  return Number(raw);
}

export interface Paging {
  limit: number;
  offset: number;
}

export function parsePaging(query: { limit?: string; offset?: string }): Paging {
  const limit = parseNonNegativeInt(query.limit, 'limit', DEFAULT_PAGE_LIMIT);
  if (limit < 1 || limit > MAX_PAGE_LIMIT) {
    throw badRequest(`"limit" must be between 1 and ${MAX_PAGE_LIMIT}`, 'invalid_query');
  }
  return { limit, offset: parseNonNegativeInt(query.offset, 'offset', 0) };
}

export function parseSendMessage(body: unknown): ContentPart[] {
  const obj = requireObject(body);
  if (obj.content === undefined) throw badRequest('"content" is required');
  return parseContent(obj.content);
}

export function parseToolCallIds(body: unknown): string[] {
  const ids = requireObject(body).tool_call_ids;
  if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string' || id.length === 0)) {
    throw badRequest('"tool_call_ids" must be an array of tool call ids');
  }
  return [...new Set(ids as string[])];
}

export interface ForkRequest {
  name: string;
  from_branch: string | undefined;
  at_message_id: string | undefined;
}

export function parseFork(body: unknown): ForkRequest {
  const obj = requireObject(body);
  return {
    name: requireBranchName(obj.name, 'name'),
    from_branch:
      obj.from_branch === undefined || obj.from_branch === null
        ? undefined
        : requireBranchName(obj.from_branch, 'from_branch'),
    at_message_id:
      obj.at_message_id === undefined || obj.at_message_id === null
        ? undefined
        : requireUuid(String(obj.at_message_id), '"at_message_id"'),
  };
}

/**
 * A new prompt id must be a URL path segment that addresses it: it starts with a letter or
 * digit, so `.` and `..` (which URL parsers resolve away) are impossible.
 */
const NEW_PROMPT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** What a lookup accepts: also ids created under the older, looser rule stay reachable. */
const PROMPT_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** The id of a new prompt (library or inline): the strict rule. */
export function requireNewPromptId(value: unknown, field = 'id'): string {
  if (typeof value !== 'string' || !NEW_PROMPT_ID.test(value)) {
    throw badRequest(
      `"${field}" must be 1-128 characters of letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  }
  return value;
}

/** The id of an existing prompt, to look it up. */
export function requirePromptId(value: unknown, field = 'id'): string {
  if (typeof value !== 'string' || !PROMPT_ID.test(value)) {
    throw badRequest(`"${field}" must be 1-128 characters of letters, digits, ".", "_" or "-"`);
  }
  return value;
}

export interface BranchUpdateRequest {
  /** A library prompt to use (null clears), or an inline prompt. */
  system_prompt_id?: string | null;
  system_prompt?: { id: string | undefined; content: string } | null;
  user_prompt?: string | null;
}

export function parseBranchUpdate(body: unknown): BranchUpdateRequest {
  const obj = requireObject(body);
  const update: BranchUpdateRequest = {};
  if (obj.system_prompt_id !== undefined && obj.system_prompt !== undefined) {
    throw badRequest('give "system_prompt_id" or "system_prompt", not both');
  }
  if (obj.system_prompt_id !== undefined) {
    update.system_prompt_id =
      obj.system_prompt_id === null
        ? null
        : requirePromptId(obj.system_prompt_id, 'system_prompt_id');
  }
  if (obj.system_prompt !== undefined) {
    const prompt = obj.system_prompt;
    if (prompt === null) update.system_prompt = null;
    else if (typeof prompt === 'string') update.system_prompt = { id: undefined, content: prompt };
    else {
      const p = requireObject(prompt, '"system_prompt"');
      update.system_prompt = {
        id: p.id === undefined ? undefined : requireNewPromptId(p.id, 'system_prompt.id'),
        content: requireString(p, 'content'),
      };
    }
  }
  const userPrompt = optionalString(obj, 'user_prompt');
  if (userPrompt !== undefined) update.user_prompt = userPrompt;
  if (Object.keys(update).length === 0) {
    throw badRequest('nothing to update: give system_prompt_id, system_prompt or user_prompt');
  }
  return update;
}

export function parseNewPrompt(body: unknown): { id: string; content: string } {
  const obj = requireObject(body);
  return { id: requireNewPromptId(obj.id), content: requireString(obj, 'content') };
}

export function parsePromptContent(body: unknown): string {
  return requireString(requireObject(body), 'content');
}

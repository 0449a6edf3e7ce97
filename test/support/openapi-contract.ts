import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS with a default export; under NodeNext its callable is `.default`.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/**
 * Checks real HTTP answers against the OpenAPI document with ajv (JSON Schema 2020-12):
 * the status must be declared for the operation (there is no `default` response), every
 * header the response declares `required` must be present and match its schema, the
 * media type must be declared, and a JSON body must validate against its schema (which
 * forbids undeclared fields where the shape is fixed).
 */

type Json = Record<string, unknown>;

export interface Answer {
  status: number;
  headers: Headers;
  /** The body as text ('' when none); not read for event streams. */
  text: string;
}

export interface SseEventSeen {
  event: string;
  data: unknown;
}

const DOC_ID = 'openapi.json';
/** OpenAPI's top-level fields: not JSON Schema keywords, so ajv must be told to ignore them. */
const DOCUMENT_KEYWORDS = [
  'openapi',
  'info',
  'jsonSchemaDialect',
  'servers',
  'security',
  'tags',
  'paths',
  'components',
];

const escapePointer = (token: string) => token.replaceAll('~', '~0').replaceAll('/', '~1');

export class OpenApiContract {
  private readonly ajv: Ajv2020;
  private readonly compiled = new Map<string, ValidateFunction>();
  /** `METHOD /template STATUS` of every answer checked. */
  readonly seen = new Set<string>();

  constructor(readonly doc: Json) {
    this.ajv = new Ajv2020({
      allErrors: true,
      strict: true,
      strictRequired: false, // `not: {required: [a, b]}` ("not both") is intended
      allowUnionTypes: true,
    });
    addFormats(this.ajv);
    this.ajv.addVocabulary(DOCUMENT_KEYWORDS);
    this.ajv.addSchema(doc, DOC_ID);
  }

  /** Every `METHOD /template` the document declares. */
  operations(): string[] {
    const ops: string[] = [];
    for (const [path, item] of Object.entries(this.doc.paths as Json)) {
      for (const method of ['get', 'put', 'post', 'delete', 'patch']) {
        if ((item as Json)[method] !== undefined) ops.push(`${method.toUpperCase()} ${path}`);
      }
    }
    return ops;
  }

  /** Problems with an answer, as readable lines; empty when it meets the contract. */
  check(method: string, template: string, answer: Answer): string[] {
    const where = `${method} ${template} → ${answer.status}`;
    const item = (this.doc.paths as Json)[template] as Json | undefined;
    const operation = item?.[method.toLowerCase()] as Json | undefined;
    if (operation === undefined) return [`${method} ${template} is not in the document`];
    this.seen.add(`${method} ${template} ${answer.status}`);
    const opPointer = `/paths/${escapePointer(template)}/${method.toLowerCase()}`;
    const declared = (operation.responses as Json)[String(answer.status)];
    if (declared === undefined) return [`${where}: status ${answer.status} is not declared`];
    const [response, pointer] = this.resolve(
      declared as Json,
      `${opPointer}/responses/${answer.status}`,
    );
    const problems: string[] = [];

    for (const [name, raw] of Object.entries((response.headers ?? {}) as Json)) {
      const [header, headerPointer] = this.resolve(
        raw as Json,
        `${pointer}/headers/${escapePointer(name)}`,
      );
      const value = answer.headers.get(name);
      if (value === null) {
        if (header.required === true) problems.push(`${where}: header ${name} is missing`);
        continue;
      }
      const validate = this.validator(`${headerPointer}/schema`);
      if (!validate(value)) problems.push(`${where}: header ${name}: ${this.errors(validate)}`);
    }

    const content = response.content as Json | undefined;
    if (content === undefined) {
      if (answer.text !== '') problems.push(`${where}: a body is not declared, got ${answer.text}`);
      return problems;
    }
    const type = (answer.headers.get('content-type') ?? '').split(';')[0]!.trim();
    if (content[type] === undefined) {
      problems.push(`${where}: media type "${type}" is not declared`);
      return problems;
    }
    if (type === 'application/json') {
      let body: unknown;
      try {
        body = JSON.parse(answer.text);
      } catch {
        return [...problems, `${where}: the body is not JSON: ${answer.text.slice(0, 200)}`];
      }
      const validate = this.validator(`${pointer}/content/${escapePointer(type)}/schema`);
      if (!validate(body)) problems.push(`${where}: ${this.errors(validate)}`);
    }
    return problems;
  }

  /** Problems with the data of one server-sent event, by its declared `x-sse-events` schema. */
  checkEvent(template: string, seen: SseEventSeen): string[] {
    const pointer = `/paths/${escapePointer(template)}/get/responses/200/x-sse-events`;
    const events = this.at(pointer) as Json | undefined;
    if (events?.[seen.event] === undefined) {
      return [`SSE event "${seen.event}" is not declared for ${template}`];
    }
    const validate = this.validator(`${pointer}/${escapePointer(seen.event)}`);
    return validate(seen.data) ? [] : [`SSE event "${seen.event}": ${this.errors(validate)}`];
  }

  /** Follows one `$ref` (to a component) if there is one; returns the object and its pointer. */
  private resolve(node: Json, pointer: string): [Json, string] {
    const ref = node.$ref;
    if (typeof ref !== 'string') return [node, pointer];
    const target = ref.replace(/^#/, '');
    return [this.at(target) as Json, target];
  }

  private at(pointer: string): unknown {
    let node: unknown = this.doc;
    for (const raw of pointer.split('/').slice(1)) {
      const token = raw.replaceAll('~1', '/').replaceAll('~0', '~');
      node = (node as Json | undefined)?.[token];
    }
    return node;
  }

  private validator(pointer: string): ValidateFunction {
    let validate = this.compiled.get(pointer);
    if (validate === undefined) {
      validate = this.ajv.compile({ $ref: `${DOC_ID}#${encodeURI(pointer)}` });
      this.compiled.set(pointer, validate);
    }
    return validate;
  }

  private errors(validate: ValidateFunction): string {
    return (validate.errors ?? [])
      .map((e) => {
        const extra = (e.params as { additionalProperty?: string }).additionalProperty;
        const at = e.instancePath === '' ? 'body' : e.instancePath;
        return `${at} ${e.message}${extra === undefined ? '' : ` ("${extra}")`}`;
      })
      .join('; ');
  }
}

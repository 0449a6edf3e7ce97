import { evaluate } from './arithmetic.js';

/** A tool the LLM may call, described as OpenAI-style function tools are. */
export interface Tool {
  name: string;
  description: string;
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>;
  run(args: unknown): Promise<unknown> | unknown;
}

export interface ToolOutcome {
  ok: boolean;
  result: unknown;
}

/** The tools the server can run. Built-ins are safe: no I/O, no code evaluation. */
export class ToolRegistry {
  private readonly tools = new Map<string, Tool>();

  register(tool: Tool): this {
    this.tools.set(tool.name, tool);
    return this;
  }

  get(name: string): Tool | undefined {
    return this.tools.get(name);
  }

  list(): Tool[] {
    return [...this.tools.values()];
  }

  /** Runs a tool; a tool that throws (or does not exist) gives an error result, not a crash. */
  async run(name: string, args: unknown): Promise<ToolOutcome> {
    const tool = this.tools.get(name);
    if (tool === undefined) return { ok: false, result: { error: `unknown tool "${name}"` } };
    try {
      return { ok: true, result: await tool.run(args) };
    } catch (err) {
      return { ok: false, result: { error: err instanceof Error ? err.message : String(err) } };
    }
  }
}

export const currentTimeTool: Tool = {
  name: 'current_time',
  description: 'The current date and time (UTC, ISO 8601) and the Unix time in milliseconds.',
  parameters: { type: 'object', properties: {}, additionalProperties: false },
  run: () => {
    const now = new Date();
    return { iso: now.toISOString(), epoch_ms: now.getTime() };
  },
};

export const calculatorTool: Tool = {
  name: 'calculator',
  description: 'Evaluates an arithmetic expression: numbers, + - * / % ^ and parentheses.',
  parameters: {
    type: 'object',
    properties: { expression: { type: 'string' } },
    required: ['expression'],
    additionalProperties: false,
  },
  run: (args) => {
    const expression = (args as { expression?: unknown } | null)?.expression;
    if (typeof expression !== 'string') throw new Error('"expression" must be a string');
    return { expression, value: evaluate(expression) };
  },
};

export function builtinTools(): ToolRegistry {
  return new ToolRegistry().register(currentTimeTool).register(calculatorTool);
}

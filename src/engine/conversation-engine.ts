import { randomUUID } from 'node:crypto';
import { AppError } from '../errors.js';
import type { EventHub } from '../events/event-hub.js';
import type { FsmEvent } from '../fsm/state-machine.js';
import type { LlmProvider, LlmResponse } from '../llm/provider.js';
import { LlmError } from '../llm/provider.js';
import type { Logger } from '../log.js';
import { type ContextDto, type MessageNode, statusName, type ToolCall } from '../model/types.js';
import { errorOf } from '../pool/context-pool.js';
import type { PromptStore } from '../prompts/prompt-store.js';
import type { ContextService, ContextTask } from '../service/context-service.js';
import type { EngineMessage, PromptView } from '../store/turn-store.js';
import type { ToolRegistry } from '../tools/registry.js';
import { buildChat } from './prompt.js';

export interface TurnResult {
  status: number;
  body: Record<string, unknown>;
}

interface StepResult {
  context: ContextDto;
  messages: MessageNode[];
}

const decoder = new TextDecoder();

/**
 * Drives the state machine of a conversation turn (src/fsm/) from the main thread. Every
 * step that changes data is one short write task on a worker (persisted before it is
 * visible); the LLM call and the tools run here with no lock held, so the context stays
 * readable while the model thinks. Each state change and appended message is published
 * as a live event; streamed text as `delta` events.
 */
export class ConversationEngine {
  constructor(
    private readonly contexts: ContextService,
    private readonly provider: LlmProvider,
    private readonly tools: ToolRegistry,
    private readonly prompts: PromptStore,
    private readonly events: EventHub,
    private readonly log: Logger,
  ) {}

  /** `send_message`: accepted in Idle and Failed (else 409 `context_busy`). */
  async sendMessage(id: string, traceId: string, content: EngineMessage['content']) {
    const turn = new Turn(this, id, traceId);
    return turn.guard(async () => {
      await turn.step({ op: 'beginTurn', content });
      return this.respond(await this.complete(turn));
    });
  }

  /** `approve_tools`: runs approved calls, reports denied ones, and lets the LLM continue. */
  async approveTools(id: string, traceId: string, approve: string[]) {
    const turn = new Turn(this, id, traceId);
    return turn.guard(async () => {
      const decided = await turn.step({ op: 'decideTools', approve }, false);
      const calls = decided.messages[0]?.tool_calls ?? [];
      const results = await Promise.all(calls.map((call) => this.toolMessage(call)));
      if (decided.context.current_state === 'ExecutingTools') {
        await turn.step({
          op: 'appendAndTransition',
          messages: results,
          events: [{ type: 'ToolExecutionCompleted' }],
        });
        await turn.step({ op: 'transition', events: [{ type: 'LLMRequestInitiated' }] });
      } else {
        await turn.step({ op: 'appendAndTransition', messages: results, events: [] });
      }
      return this.respond(await this.complete(turn));
    });
  }

  /**
   * Asks the LLM until the turn settles: Idle, AwaitingToolApproval, or Failed after the
   * retries. Returns the last step's context.
   */
  private async complete(turn: Turn): Promise<StepResult> {
    let current = await turn.step({
      op: 'transition',
      events: [{ type: 'LLMRequestInitiated' }],
    });
    for (let retries = 0; ; retries++) {
      const view = (await turn.read({ op: 'promptView' })) as unknown as PromptView;
      const started = performance.now();
      let streamed = false;
      let streaming: Promise<unknown> = Promise.resolve();
      let response: LlmResponse;
      try {
        response = await this.provider.complete(
          {
            model: view.config.model_id,
            messages: buildChat(view, this.prompts),
            tools: this.tools.list(),
            parameters: view.config.parameters,
          },
          {
            onStreamStart: () => {
              streamed = true;
              streaming = turn.step({ op: 'transition', events: [{ type: 'LLMStreamStarted' }] });
              streaming.catch(() => {});
            },
            onDelta: (text) => this.events.publish(turn.id, 'delta', { text }),
          },
        );
        await streaming;
      } catch (err) {
        await streaming.catch(() => {}); // a failed state write surfaces below, not here
        if (!(err instanceof LlmError)) throw err;
        this.log.warn({ traceId: turn.traceId, err: err.message, retries }, 'LLM call failed');
        const failure: FsmEvent = err.transient
          ? { type: 'ToolExecutionFailed', error: err.message, retryCount: retries }
          : { type: 'FatalError', error: err.message };
        await turn.step({ op: 'transition', events: [failure] });
        if (!err.transient) return turn.last!;
        current = await turn.step({ op: 'transition', events: [{ type: 'Retry' }] });
        if (current.context.current_state === 'Failed') return current;
        continue;
      }
      await turn.step({
        op: 'transition',
        events: [{ type: streamed ? 'LLMStreamEnded' : 'LLMFullResponseReceived' }],
      });
      const calls: ToolCall[] = response.toolCalls.map((c) => ({
        id: c.id || `call_${randomUUID()}`,
        tool_name: c.name,
        arguments: c.arguments,
        approval_status: 'Pending',
        display_preference: 'Default',
        ui_hints: null,
      }));
      return turn.step({
        op: 'appendAndTransition',
        messages: [
          {
            role: 'assistant',
            content: [{ type: 'text', text: response.content }],
            tool_calls: calls.length > 0 ? calls : null,
            tool_result: null,
            metadata: {
              duration_ms: Math.round(performance.now() - started),
              tokens: response.usage,
              extra: { provider: this.provider.name },
            },
          },
        ],
        events: [{ type: 'LLMResponseProcessed', hasToolCalls: calls.length > 0 }],
      });
    }
  }

  private async toolMessage(call: ToolCall): Promise<EngineMessage> {
    if (call.approval_status !== 'Approved') {
      return {
        role: 'tool',
        content: [{ type: 'text', text: `The call of tool "${call.tool_name}" was denied.` }],
        tool_calls: null,
        tool_result: { request_id: call.id, result: { denied: true } },
      };
    }
    const started = performance.now();
    const outcome = await this.tools.run(call.tool_name, call.arguments);
    return {
      role: 'tool',
      content: [{ type: 'text', text: JSON.stringify(outcome.result) }],
      tool_calls: null,
      tool_result: { request_id: call.id, result: outcome.result },
      metadata: { duration_ms: Math.round(performance.now() - started) },
    };
  }

  private respond(settled: StepResult): TurnResult {
    const context = settled.context;
    const body = { context, status: statusName(context.current_state) };
    if (context.current_state === 'Failed') {
      return {
        status: 502,
        body: {
          error: context.state_detail?.error ?? 'the LLM failed',
          code: 'llm_failed',
          ...body,
        },
      };
    }
    return { status: 200, body };
  }

  /** @internal: used by Turn. */
  run(id: string, traceId: string, task: ContextTask) {
    return this.contexts.run(id, traceId, task);
  }

  /** @internal: used by Turn. */
  publish(id: string, kind: 'state' | 'message', data: unknown): void {
    this.events.publish(id, kind, data);
  }
}

/** One request's walk through the state machine: its steps, events and failure handling. */
class Turn {
  last: StepResult | undefined;

  constructor(
    private readonly engine: ConversationEngine,
    readonly id: string,
    readonly traceId: string,
  ) {}

  /** Runs a write step; publishes the messages it appended and the state it reached. */
  async step(task: ContextTask, publishMessages = true): Promise<StepResult> {
    const result = (await this.read(task)) as unknown as StepResult;
    if (publishMessages) {
      for (const m of result.messages) this.engine.publish(this.id, 'message', m);
    }
    const state = result.context.current_state;
    if (this.last?.context.current_state !== state) {
      this.engine.publish(this.id, 'state', {
        state,
        status: statusName(state),
        detail: result.context.state_detail,
        version: result.context.version,
      });
    }
    this.last = result;
    return result;
  }

  async read(task: ContextTask): Promise<Record<string, unknown>> {
    const reply = await this.engine.run(this.id, this.traceId, task);
    if (reply.head.status >= 400) throw errorOf(reply);
    return JSON.parse(decoder.decode(reply.body)) as Record<string, unknown>;
  }

  /**
   * Runs the turn; if a step cannot be persisted (storage failure), the context goes to
   * Failed in memory — what was stored stays intact — and the action answers 500.
   */
  async guard(work: () => Promise<TurnResult>): Promise<TurnResult> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof AppError && err.code === 'storage_error') await this.markFailed(err);
      throw err;
    }
  }

  private async markFailed(err: AppError): Promise<void> {
    try {
      await this.step({
        op: 'forceState',
        state: { name: 'Failed', detail: { error: `storage failure: ${err.message}` } },
      });
    } catch {
      // The context could not even be marked; the error reply still goes out.
    }
  }
}

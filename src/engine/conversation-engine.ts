import { randomUUID } from 'node:crypto';
import { AppError } from '../errors.js';
import type { EventHub } from '../events/event-hub.js';
import type { FsmEvent } from '../fsm/state-machine.js';
import type { LlmProvider, LlmResponse } from '../llm/provider.js';
import { LlmError } from '../llm/provider.js';
import type { Logger } from '../log.js';
import { checkJsonValue } from '../model/json-value.js';
import { statusName, type ToolCall } from '../model/types.js';
import type { PromptLibrary } from '../prompts/prompt-library.js';
import type { EngineMessage, PromptView } from '../protocol/messages.js';
import type { ContextService, ContextTask } from '../service/context-service.js';
import type { ToolRegistry } from '../tools/registry.js';
import { buildChat } from './prompt.js';
import { isStorageError, messageOf, type StepResult, Turn, type TurnHost } from './turn.js';

export interface TurnResult {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

/** How a failed turn is answered: the error, its code and status. */
interface Failure {
  status: number;
  code: string;
  error: string;
}

interface Settled {
  step: StepResult;
  failure?: Failure;
}

/** Why a turn still running when the shutdown's time ran out was aborted. */
export const STOPPED_BY_SHUTDOWN = 'the server shut down during this turn; send a new message';

/** `state_detail.error` of a context that was found in an unsettled state with no turn. */
export const ORPHANED_TURN =
  'the previous turn was interrupted before it settled (no turn was running it any more)';

/**
 * Drives the state machine of a conversation turn (src/fsm/) from the main thread. Every
 * step that changes data is one short write task on a worker (persisted before it is
 * visible); the LLM call and the tools run here with no lock held, so the context stays
 * readable while the model thinks. Each step's state change and appended messages are published
 * as live events by the ContextService (as every committed change); the engine publishes
 * only what is not committed: streamed text, as `delta` events.
 *
 * No failure leaves a context unsettled: a turn that owned the context and fails, for
 * whatever reason, ends in Failed (see `drive`), one still running at shutdown too
 * (`stopTurns`); a context found unsettled with no turn
 * of this process running it (the turn's own settling failed) is settled by the next
 * `send_message`; one found unsettled at start-up by `settleInterruptedTurns`.
 */
export class ConversationEngine implements TurnHost {
  /** Turns in progress in this process, per context id (a count: a rejected send counts too). */
  private readonly running = new Map<string, number>();
  /** Aborted by `stopTurns`: the LLM calls in flight end, and their turns in Failed. */
  private readonly stopping = new AbortController();
  /** Called when no turn runs any more. */
  private readonly idleWaiters = new Set<() => void>();

  constructor(
    private readonly contexts: ContextService,
    private readonly provider: LlmProvider,
    private readonly tools: ToolRegistry,
    private readonly prompts: PromptLibrary,
    private readonly events: EventHub,
    readonly log: Logger,
  ) {}

  /** `send_message`: accepted in Idle and Failed (else 409 `context_busy`). */
  sendMessage(id: string, traceId: string, content: EngineMessage['content']) {
    return this.drive(id, traceId, async (turn) => {
      await this.begin(turn, content);
      return this.complete(turn);
    });
  }

  /** `approve_tools`: runs approved calls, reports denied ones, and lets the LLM continue. */
  approveTools(id: string, traceId: string, approve: string[]) {
    return this.drive(id, traceId, async (turn) => {
      const decided = await turn.start({ op: 'decideTools', approve });
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
      return this.complete(turn);
    });
  }

  /** How many turns this process is running now (logged at shutdown). */
  get runningTurns(): number {
    let n = 0;
    for (const count of this.running.values()) n += count;
    return n;
  }

  /**
   * Shutdown, after HTTP has drained: waits up to `waitMs` for the running turns (a client
   * that left does not stop its turn); past that, aborts them — their LLM calls end, each
   * turn is settled in Failed{STOPPED_BY_SHUTDOWN} and stored — and waits up to `settleMs`
   * for that. Returns how many were aborted and how many are still running (these are
   * settled at the next start-up).
   */
  async stopTurns(waitMs: number, settleMs: number): Promise<{ aborted: number; left: number }> {
    if (await this.whenIdle(waitMs)) return { aborted: 0, left: 0 };
    const aborted = this.runningTurns;
    this.log.warn({ runningTurns: aborted, waitMs }, 'shutdown: aborting the turns still running');
    this.stopping.abort(new AppError(503, 'shutting_down', STOPPED_BY_SHUTDOWN));
    await this.whenIdle(settleMs);
    const left = this.runningTurns;
    if (left > 0) {
      this.log.error(
        { runningTurns: left, settleMs },
        'shutdown: turns still running after being aborted; the next start-up settles them',
      );
    }
    return { aborted, left };
  }

  /** Resolves true once no turn runs, false after `ms`. */
  private whenIdle(ms: number): Promise<boolean> {
    if (this.runningTurns === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (idle: boolean) => {
        clearTimeout(timer);
        this.idleWaiters.delete(wake);
        resolve(idle);
      };
      const wake = () => done(true);
      const timer = setTimeout(() => done(false), ms);
      this.idleWaiters.add(wake);
    });
  }

  /**
   * Runs one turn and answers it. Whatever fails after the turn took the context — a
   * provider, a tool, a worker, storage, a bug — is caught here and the context settled
   * in Failed before the answer goes out: 4xx when the input was at fault, 502 when the
   * LLM failed, 500/503 otherwise, each with the settled context. Failures before that
   * (409 busy, 404) are thrown as they are: the context is not this turn's to touch.
   */
  private async drive(
    id: string,
    traceId: string,
    work: (turn: Turn) => Promise<Settled>,
  ): Promise<TurnResult> {
    const turn = new Turn(this, id, traceId);
    this.running.set(id, (this.running.get(id) ?? 0) + 1);
    try {
      const settled = await work(turn);
      if (!turn.settled) throw new Error(`the turn ended in ${turn.last?.context.current_state}`);
      return this.respond(settled);
    } catch (err) {
      // A first step that failed to store was still this turn's attempt on a settled
      // context: it is marked Failed too (in memory, as storage refuses).
      if (!turn.owned && !isStorageError(err)) throw err;
      if (err instanceof AppError) {
        this.log.warn({ traceId, context: id, code: err.code, err: err.message }, 'turn failed');
      } else {
        this.log.error({ traceId, context: id, err }, 'turn failed unexpectedly');
      }
      await turn.abort(err);
      return answerFailure(turn, err);
    } finally {
      const left = (this.running.get(id) ?? 1) - 1;
      if (left === 0) this.running.delete(id);
      else this.running.set(id, left);
      if (this.running.size === 0) for (const wake of [...this.idleWaiters]) wake();
    }
  }

  /**
   * Starts a turn. A 409 `context_busy` while no other turn of this process runs on the
   * context means the turn that left it unsettled is gone (its own settling failed): the
   * context is settled in Failed and the send goes ahead.
   */
  private async begin(turn: Turn, content: EngineMessage['content']): Promise<void> {
    try {
      await turn.start({ op: 'beginTurn', content });
    } catch (err) {
      const busy = err instanceof AppError && err.code === 'context_busy';
      if (!busy || (this.running.get(turn.id) ?? 0) > 1) throw err;
      this.log.warn({ traceId: turn.traceId, context: turn.id }, 'settling an orphaned turn');
      // A step like any other: subscribers see the context go to Failed.
      await turn.step({
        op: 'transition',
        events: [{ type: 'TurnAborted', error: ORPHANED_TURN }],
      });
      await turn.start({ op: 'beginTurn', content });
    }
  }

  /**
   * Asks the LLM until the turn settles: Idle, AwaitingToolApproval, or Failed (after the
   * retries, at once for a non-transient failure or an answer the server cannot store).
   */
  private async complete(turn: Turn): Promise<Settled> {
    await turn.step({ op: 'transition', events: [{ type: 'LLMRequestInitiated' }] });
    for (let retries = 0; ; retries++) {
      this.stopping.signal.throwIfAborted(); // the shutdown aborted it: drive settles it
      const view = (await turn.read({ op: 'promptView' })) as unknown as PromptView;
      const started = performance.now();
      let streamed = false;
      let streaming: Promise<unknown> = Promise.resolve();
      let response: LlmResponse | undefined;
      let problem: unknown;
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
              streaming.catch(() => {}); // awaited below
            },
            onDelta: (text) => this.events.publish(turn.id, 'delta', { text }),
            signal: this.stopping.signal,
          },
        );
        refuseUnstorable(response);
      } catch (err) {
        problem = err ?? new Error('the LLM provider failed');
      }
      await streaming; // a state write that failed ends the turn (drive settles it)
      this.stopping.signal.throwIfAborted(); // not the LLM's failure: not retried
      if (problem !== undefined || response === undefined) {
        const failure = llmFailure(problem);
        const transient = problem instanceof LlmError && problem.transient;
        this.log.warn(
          { traceId: turn.traceId, err: failure.error, retries, transient },
          'LLM call failed',
        );
        const event: FsmEvent = transient
          ? { type: 'ToolExecutionFailed', error: failure.error, retryCount: retries }
          : { type: 'FatalError', error: failure.error };
        const failed = await turn.step({ op: 'transition', events: [event] });
        if (!transient) return { step: failed, failure };
        const next = await turn.step({ op: 'transition', events: [{ type: 'Retry' }] });
        if (next.context.current_state === 'Failed') return { step: next, failure: llmFailed() };
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
      const step = await turn.step({
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
      return { step };
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

  private respond({ step, failure }: Settled): TurnResult {
    const context = step.context;
    const body = { context, status: statusName(context.current_state) };
    if (failure === undefined && context.current_state === 'Failed') failure = llmFailed();
    if (failure === undefined) return { status: 200, body };
    const error = context.state_detail?.error ?? failure.error;
    return { status: failure.status, body: { error, code: failure.code, ...body } };
  }

  /** @internal (TurnHost): runs a task on the context. */
  run(id: string, traceId: string, task: ContextTask) {
    return this.contexts.run(id, traceId, task);
  }
}

/**
 * What the engine stores from an answer must come back as it was stored: tool-call
 * arguments, ids and names and the usage object go through the same check as request
 * bodies (nesting, well-formed Unicode, no `__proto__`), whichever provider produced them
 * (the one place they are checked). Arguments the user wrote (`fromUserInput`, the
 * built-in provider's `!tool`) that break it are the request's fault: the check's 400
 * `invalid_json_value` is thrown as it is. Otherwise an answer that breaks it is the
 * LLM's failure (not retried). The answer's text is made well-formed instead (a lone
 * surrogate becomes U+FFFD): it was never acknowledged to anyone as it was.
 */
function refuseUnstorable(response: LlmResponse): void {
  response.content = response.content.toWellFormed();
  const refused = (err: unknown) =>
    new LlmError(`the LLM answer was refused: ${messageOf(err)}`, false);
  for (const call of response.toolCalls) {
    try {
      checkJsonValue([call.id, call.name], 'a tool call');
    } catch (err) {
      throw refused(err);
    }
    try {
      checkJsonValue(
        call.arguments,
        call.fromUserInput
          ? 'the !tool arguments'
          : `the arguments of the call of tool "${call.name}"`,
      );
    } catch (err) {
      throw call.fromUserInput ? err : refused(err);
    }
  }
  try {
    checkJsonValue(response.usage, 'the usage figures');
  } catch (err) {
    throw refused(err);
  }
}

/**
 * How a failed LLM call is answered. A 4xx `AppError` means the request's own input cannot
 * be answered (`refuseUnstorable`: the user's `!tool` arguments break the JSON rules): it
 * answers with that status. Anything else is the LLM's failure: 502 `llm_failed`.
 */
function llmFailure(err: unknown): Failure {
  if (err instanceof AppError && err.status < 500) {
    return { status: err.status, code: err.code, error: err.message };
  }
  return { ...llmFailed(), error: messageOf(err) };
}

/** The answer to a turn that failed outside the LLM call, with the settled context. */
function answerFailure(turn: Turn, err: unknown): TurnResult {
  const failure: Failure =
    err instanceof AppError
      ? { status: err.status, code: err.code, error: err.message }
      : { status: 500, code: 'internal_error', error: 'internal error' };
  const context = turn.last?.context;
  const body: Record<string, unknown> = { error: failure.error, code: failure.code };
  if (context !== undefined) {
    body.context = context;
    body.status = statusName(context.current_state);
  }
  return { status: failure.status, body, headers: err instanceof AppError ? err.headers : {} };
}

function llmFailed(): Failure {
  return { status: 502, code: 'llm_failed', error: 'the LLM failed' };
}

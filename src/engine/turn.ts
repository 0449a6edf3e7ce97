import { AppError } from '../errors.js';
import { isSettled } from '../fsm/state-machine.js';
import type { Logger } from '../log.js';
import type { ContextDto, MessageNode } from '../model/types.js';
import { errorOf, isFailure, type Reply } from '../pool/context-pool.js';
import type { ContextTask } from '../service/context-service.js';

export interface StepResult {
  context: ContextDto;
  messages: MessageNode[];
}

/**
 * What a turn needs from the engine: run a task on the context (which also publishes the
 * live events of what the task committed), and a log.
 */
export interface TurnHost {
  run(id: string, traceId: string, task: ContextTask): Promise<Reply>;
  readonly log: Logger;
}

const decoder = new TextDecoder();

/**
 * One request's walk through the state machine: its steps (each step's messages and state
 * are published as live events by the ContextService, as every committed change), and
 * the guarantee that a turn which owned the context never leaves it unsettled.
 *
 * A turn *owns* the context from the step that started it (`beginTurn`, `decideTools`):
 * from then on nobody else can start a turn there until the state is settled again, so
 * settling it is this turn's job, whatever went wrong.
 */
export class Turn {
  last: StepResult | undefined;
  owned = false;

  constructor(
    private readonly host: TurnHost,
    readonly id: string,
    readonly traceId: string,
  ) {}

  /** Runs a write step and remembers the context it left. */
  async step(task: ContextTask): Promise<StepResult> {
    const result = (await this.read(task)) as unknown as StepResult;
    this.last = result;
    return result;
  }

  /** The first step: once it succeeded, this turn owns the context until it settles. */
  async start(task: ContextTask): Promise<StepResult> {
    const result = await this.step(task);
    this.owned = true;
    return result;
  }

  async read(task: ContextTask): Promise<Record<string, unknown>> {
    const reply = await this.host.run(this.id, this.traceId, task);
    if (isFailure(reply)) throw errorOf(reply);
    return JSON.parse(decoder.decode(reply.body)) as Record<string, unknown>;
  }

  /** Whether the last state this turn saw is one a context may be left in. */
  get settled(): boolean {
    return this.last !== undefined && isSettled(this.last.context.current_state);
  }

  /**
   * Ends the turn in Failed with the reason `err` gives. Persisted (the state machine's
   * `TurnAborted`, which leaves an already settled state alone) unless storage is what
   * failed: then, or when that write fails too, Failed is set in memory only, so that
   * this process still accepts a new `send_message`, and what was stored stays as it was
   * (after a restart a stored unsettled state is settled by the start-up pass). Never
   * throws: the caller is already answering a failure.
   */
  async abort(err: unknown): Promise<void> {
    const reason = failureReason(err);
    if (!isStorageError(err)) {
      try {
        await this.step({ op: 'transition', events: [{ type: 'TurnAborted', error: reason }] });
        return;
      } catch (second) {
        this.host.log.warn(
          { traceId: this.traceId, context: this.id, err: messageOf(second) },
          'could not store the Failed state of an aborted turn; setting it in memory',
        );
      }
    }
    try {
      await this.step({ op: 'forceState', state: { name: 'Failed', detail: { error: reason } } });
    } catch (err) {
      // Nothing reaches the context now (e.g. the pool is closed). The next send_message
      // settles it: no turn of this process drives it any more.
      this.host.log.error(
        { traceId: this.traceId, context: this.id, err: messageOf(err) },
        'could not settle an aborted turn',
      );
    }
  }
}

/** Why a turn failed, as the context's `state_detail.error` says it. */
export function failureReason(err: unknown): string {
  if (isStorageError(err)) return `storage failure: ${messageOf(err)}`;
  return `the turn failed: ${messageOf(err)}`;
}

export function isStorageError(err: unknown): boolean {
  return err instanceof AppError && err.code === 'storage_error';
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

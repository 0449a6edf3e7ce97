import type { ContextStateName, StateDetail } from '../model/types.js';

/**
 * The lifecycle state machine (docs/api.md), as a pure function: `transition(state, event)`
 * returns the next state, or the same state for any pair the table does not list.
 *
 * | From                                           | Event                          | To                               |
 * |------------------------------------------------|--------------------------------|----------------------------------|
 * | Idle                                           | UserMessageSent                | ProcessingUserMessage            |
 * | Failed                                         | UserMessageSent                | ProcessingUserMessage            |
 * | ProcessingUserMessage                          | LLMRequestInitiated            | AwaitingLLMResponse              |
 * | AwaitingLLMResponse                            | LLMStreamStarted               | StreamingLLMResponse             |
 * | AwaitingLLMResponse                            | LLMFullResponseReceived        | ProcessingLLMResponse            |
 * | StreamingLLMResponse                           | LLMStreamChunkReceived         | StreamingLLMResponse             |
 * | StreamingLLMResponse                           | LLMStreamEnded                 | ProcessingLLMResponse            |
 * | ProcessingLLMResponse                          | LLMResponseProcessed(calls)    | AwaitingToolApproval             |
 * | ProcessingLLMResponse                          | LLMResponseProcessed(none)     | Idle                             |
 * | AwaitingToolApproval                           | ToolCallsApproved              | ExecutingTools                   |
 * | AwaitingToolApproval                           | ToolCallsDenied                | GeneratingResponse               |
 * | ExecutingTools                                 | ToolExecutionCompleted         | ProcessingToolResults            |
 * | ProcessingToolResults                          | LLMRequestInitiated            | GeneratingResponse               |
 * | GeneratingResponse                             | LLMRequestInitiated            | AwaitingLLMResponse              |
 * | AwaitingLLM…, StreamingLLM…, ExecutingTools    | ToolExecutionFailed(error, n)  | TransientFailure{error, n}       |
 * | AwaitingLLM…, StreamingLLM…, ExecutingTools    | FatalError(error)              | Failed{error}                    |
 * | TransientFailure(n < 3)                        | Retry                          | AwaitingLLMResponse              |
 * | TransientFailure(n ≥ 3)                        | Retry                          | Failed("Max retries exceeded…")  |
 * | any state but Idle, AwaitingToolApproval, Failed | TurnAborted(error)           | Failed{error}                    |
 *
 * `n` counts the retries already made, so a request is tried at most 1 + 3 times.
 *
 * `TurnAborted` is this server's addition: a turn that cannot go on (a step failed, the
 * process died mid-turn) must still settle, so that `send_message` can start over. The
 * settled states — where no turn is running — are the ones it leaves alone. So is the
 * `Failed` + `UserMessageSent` row: a new message after a failure starts a new turn.
 */
export interface ContextState {
  name: ContextStateName;
  detail: StateDetail | null;
}

export type FsmEvent =
  | { type: 'UserMessageSent' }
  | { type: 'LLMRequestInitiated' }
  | { type: 'LLMStreamStarted' }
  | { type: 'LLMFullResponseReceived' }
  | { type: 'LLMStreamChunkReceived' }
  | { type: 'LLMStreamEnded' }
  | { type: 'LLMResponseProcessed'; hasToolCalls: boolean }
  | { type: 'ToolCallsApproved' }
  | { type: 'ToolCallsDenied' }
  | { type: 'ToolExecutionCompleted' }
  | { type: 'ToolExecutionFailed'; error: string; retryCount: number }
  | { type: 'FatalError'; error: string }
  | { type: 'Retry' }
  | { type: 'TurnAborted'; error: string };

export const MAX_RETRIES = 3;

const plain = (name: ContextStateName): ContextState => ({ name, detail: null });

export function transition(state: ContextState, event: FsmEvent): ContextState {
  switch (event.type) {
    case 'UserMessageSent':
      return state.name === 'Idle' || state.name === 'Failed'
        ? plain('ProcessingUserMessage')
        : state;
    case 'LLMRequestInitiated':
      if (state.name === 'ProcessingUserMessage') return plain('AwaitingLLMResponse');
      if (state.name === 'ProcessingToolResults') return plain('GeneratingResponse');
      if (state.name === 'GeneratingResponse') return plain('AwaitingLLMResponse');
      return state;
    case 'LLMStreamStarted':
      return state.name === 'AwaitingLLMResponse' ? plain('StreamingLLMResponse') : state;
    case 'LLMFullResponseReceived':
      return state.name === 'AwaitingLLMResponse' ? plain('ProcessingLLMResponse') : state;
    case 'LLMStreamChunkReceived':
      return state;
    case 'LLMStreamEnded':
      return state.name === 'StreamingLLMResponse' ? plain('ProcessingLLMResponse') : state;
    case 'LLMResponseProcessed':
      if (state.name !== 'ProcessingLLMResponse') return state;
      return plain(event.hasToolCalls ? 'AwaitingToolApproval' : 'Idle');
    case 'ToolCallsApproved':
      return state.name === 'AwaitingToolApproval' ? plain('ExecutingTools') : state;
    case 'ToolCallsDenied':
      return state.name === 'AwaitingToolApproval' ? plain('GeneratingResponse') : state;
    case 'ToolExecutionCompleted':
      return state.name === 'ExecutingTools' ? plain('ProcessingToolResults') : state;
    case 'ToolExecutionFailed':
      return canFail(state)
        ? {
            name: 'TransientFailure',
            detail: { error: event.error, retry_count: event.retryCount },
          }
        : state;
    case 'FatalError':
      return canFail(state) ? { name: 'Failed', detail: { error: event.error } } : state;
    case 'Retry': {
      if (state.name !== 'TransientFailure') return state;
      const retries = state.detail?.retry_count ?? 0;
      if (retries < MAX_RETRIES) return plain('AwaitingLLMResponse');
      return {
        name: 'Failed',
        detail: { error: `Max retries exceeded: ${state.detail?.error ?? 'unknown error'}` },
      };
    }
    case 'TurnAborted':
      return isSettled(state.name) ? state : { name: 'Failed', detail: { error: event.error } };
  }
}

/** States where no turn is running: the only ones a context may be left in. */
export function isSettled(name: ContextStateName): boolean {
  return name === 'Idle' || name === 'AwaitingToolApproval' || name === 'Failed';
}

function canFail(state: ContextState): boolean {
  return (
    state.name === 'AwaitingLLMResponse' ||
    state.name === 'StreamingLLMResponse' ||
    state.name === 'ExecutingTools'
  );
}

/** `send_message` is accepted where the table moves on `UserMessageSent`; elsewhere the context is busy. */
export function acceptsUserMessage(name: ContextStateName): boolean {
  return transition(plain(name), { type: 'UserMessageSent' }).name !== name;
}

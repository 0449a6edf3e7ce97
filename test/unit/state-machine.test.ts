import { describe, expect, test } from 'vitest';
import {
  acceptsUserMessage,
  type ContextState,
  type FsmEvent,
  isSettled,
  transition,
} from '../../src/fsm/state-machine.js';
import type { ContextStateName } from '../../src/model/types.js';

const s = (name: ContextStateName, detail: ContextState['detail'] = null): ContextState => ({
  name,
  detail,
});

const ALL: ContextStateName[] = [
  'Idle',
  'ProcessingUserMessage',
  'AwaitingLLMResponse',
  'StreamingLLMResponse',
  'ProcessingLLMResponse',
  'AwaitingToolApproval',
  'ExecutingTools',
  'ProcessingToolResults',
  'GeneratingResponse',
  'TransientFailure',
  'Failed',
];

const EVENTS: FsmEvent[] = [
  { type: 'UserMessageSent' },
  { type: 'LLMRequestInitiated' },
  { type: 'LLMStreamStarted' },
  { type: 'LLMFullResponseReceived' },
  { type: 'LLMStreamChunkReceived' },
  { type: 'LLMStreamEnded' },
  { type: 'LLMResponseProcessed', hasToolCalls: true },
  { type: 'LLMResponseProcessed', hasToolCalls: false },
  { type: 'ToolCallsApproved' },
  { type: 'ToolCallsDenied' },
  { type: 'ToolExecutionCompleted' },
  { type: 'ToolExecutionFailed', error: 'boom', retryCount: 1 },
  { type: 'FatalError', error: 'fatal' },
  { type: 'Retry' },
];

/** The transition table of docs/api.md, row by row: (from, event index) → to. Everything else is unchanged. */
const TABLE: [ContextStateName, number, ContextStateName][] = [
  ['Idle', 0, 'ProcessingUserMessage'],
  ['Failed', 0, 'ProcessingUserMessage'],
  ['ProcessingUserMessage', 1, 'AwaitingLLMResponse'],
  ['AwaitingLLMResponse', 2, 'StreamingLLMResponse'],
  ['AwaitingLLMResponse', 3, 'ProcessingLLMResponse'],
  ['StreamingLLMResponse', 4, 'StreamingLLMResponse'],
  ['StreamingLLMResponse', 5, 'ProcessingLLMResponse'],
  ['ProcessingLLMResponse', 6, 'AwaitingToolApproval'],
  ['ProcessingLLMResponse', 7, 'Idle'],
  ['AwaitingToolApproval', 8, 'ExecutingTools'],
  ['AwaitingToolApproval', 9, 'GeneratingResponse'],
  ['ExecutingTools', 10, 'ProcessingToolResults'],
  ['ProcessingToolResults', 1, 'GeneratingResponse'],
  ['GeneratingResponse', 1, 'AwaitingLLMResponse'],
  ['AwaitingLLMResponse', 11, 'TransientFailure'],
  ['StreamingLLMResponse', 11, 'TransientFailure'],
  ['ExecutingTools', 11, 'TransientFailure'],
  ['AwaitingLLMResponse', 12, 'Failed'],
  ['StreamingLLMResponse', 12, 'Failed'],
  ['ExecutingTools', 12, 'Failed'],
  ['TransientFailure', 13, 'AwaitingLLMResponse'],
];

describe('lifecycle state machine', () => {
  test('every (state, event) pair: the table rows move, every other pair stays put', () => {
    for (const from of ALL) {
      EVENTS.forEach((event, index) => {
        const row = TABLE.find(([f, e]) => f === from && e === index);
        const detail = from === 'TransientFailure' ? { error: 'x', retry_count: 0 } : null;
        const next = transition(s(from, detail), event);
        expect(next.name, `${from} + ${event.type}`).toBe(row ? row[2] : from);
      });
    }
  });

  test('failures carry their detail; retries stop at 3', () => {
    const transient = transition(s('AwaitingLLMResponse'), {
      type: 'ToolExecutionFailed',
      error: 'timeout',
      retryCount: 2,
    });
    expect(transient).toEqual(s('TransientFailure', { error: 'timeout', retry_count: 2 }));
    expect(transition(transient, { type: 'Retry' }).name).toBe('AwaitingLLMResponse');
    const exhausted = transition(s('TransientFailure', { error: 'timeout', retry_count: 3 }), {
      type: 'Retry',
    });
    expect(exhausted.name).toBe('Failed');
    expect(exhausted.detail?.error).toMatch(/^Max retries exceeded/);
    expect(transition(s('ExecutingTools'), { type: 'FatalError', error: 'bad' })).toEqual(
      s('Failed', { error: 'bad' }),
    );
  });

  test('TurnAborted settles every unsettled state in Failed and leaves settled ones alone', () => {
    const settled: ContextStateName[] = ['Idle', 'AwaitingToolApproval', 'Failed'];
    expect(ALL.filter(isSettled)).toEqual(settled);
    for (const from of ALL) {
      const detail = from === 'Failed' ? { error: 'earlier' } : null;
      const next = transition(s(from, detail), { type: 'TurnAborted', error: 'interrupted' });
      if (settled.includes(from)) expect(next, from).toEqual(s(from, detail));
      else expect(next, from).toEqual(s('Failed', { error: 'interrupted' }));
    }
  });

  test('send_message is accepted in Idle and Failed only', () => {
    expect(ALL.filter(acceptsUserMessage)).toEqual(['Idle', 'Failed']);
  });
});

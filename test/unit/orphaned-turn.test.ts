import { describe, expect, it } from 'vitest';
import type { ResidentSet } from '../../src/cache/resident-set.js';
import type { SummaryIndex } from '../../src/catalog/summary-index.js';
import { ConversationEngine, ORPHANED_TURN } from '../../src/engine/conversation-engine.js';
import { EventHub } from '../../src/events/event-hub.js';
import { BuiltinProvider } from '../../src/llm/builtin-provider.js';
import { createLogger } from '../../src/log.js';
import type { ContextPool, Reply } from '../../src/pool/context-pool.js';
import type { PromptLibrary } from '../../src/prompts/prompt-library.js';
import type { ChangeEvent } from '../../src/protocol/change-events.js';
import {
  errorFrame,
  jsonFrame,
  type ReplyHead,
  readFrame,
} from '../../src/protocol/reply-frame.js';
import { TaskError, type TaskErrorCode } from '../../src/protocol/task-error.js';
import type { Task } from '../../src/protocol/tasks.js';
import { ContextService } from '../../src/service/context-service.js';
import { builtinTools } from '../../src/tools/registry.js';

/** A reply as a worker frames it. */
const reply = (head: ReplyHead, body: unknown): Reply => readFrame(jsonFrame(head, body));
const failure = (code: TaskErrorCode, error: string): Reply =>
  readFrame(errorFrame(new TaskError(code, error)));

/**
 * A context left unsettled by a turn that is gone (its own settling failed): the next
 * send_message settles it in Failed, and that change is published like any step, so a
 * subscriber sees the `state` event. The worker pool is a stand-in that plays such a
 * context (its replies say what they committed, as a worker's do); the engine, the context
 * service that publishes what was committed, and the event hub are the real ones.
 */
describe('ConversationEngine: settling an orphaned turn', () => {
  it('publishes the Failed state to subscribers', async () => {
    const tasks: Task[] = [];
    let begun = 0;
    const pool = {
      run: async (task: Task) => {
        tasks.push(task);
        if (task.op === 'beginTurn') {
          begun++;
          // Busy the first time (the orphan), then the context is gone: the send stops there.
          return begun === 1 ? failure('context_busy', 'busy') : failure('not_found', 'gone');
        }
        const context = {
          current_state: 'Failed',
          state_detail: { error: ORPHANED_TURN },
          version: 7,
        };
        const state = { state: 'Failed', status: 'failed', detail: context.state_detail };
        const events: ChangeEvent[] = [{ kind: 'state', data: { ...state, version: 7 } }];
        return reply({ outcome: 'ok', version: 7, events }, { context, messages: [] });
      },
    } as unknown as ContextPool;
    const residents = {
      acquire: async (id: string) => ({ id, slot: 0, gen: 1, release: () => {} }),
      tryAcquire: () => undefined,
    } as unknown as ResidentSet;
    const index = { has: () => true } as unknown as SummaryIndex;
    const hub = new EventHub();
    const contexts = new ContextService(pool, residents, index, hub);
    const engine = new ConversationEngine(
      contexts,
      new BuiltinProvider(),
      builtinTools(),
      {} as PromptLibrary,
      hub,
      createLogger('silent'),
    );
    const subscription = hub.subscribe('ctx', () => {});
    await expect(
      engine.sendMessage('ctx', 'trace', [{ type: 'text', text: 'hello' }]),
    ).rejects.toMatchObject({
      code: 'not_found',
    });
    expect(tasks.map((t) => t.op)).toEqual(['beginTurn', 'transition', 'beginTurn']);
    const first = subscription.after(0);
    expect(first, 'no event was published').toBeDefined();
    expect(first?.frame).toContain('event: state');
    expect(first?.frame).toContain('"status":"failed"');
    expect(first?.frame).toContain(ORPHANED_TURN);
    subscription.unsubscribe();
  });
});

import { describe, expect, it } from 'vitest';
import { ConversationEngine, ORPHANED_TURN } from '../../src/engine/conversation-engine.js';
import { EventHub } from '../../src/events/event-hub.js';
import { BuiltinProvider } from '../../src/llm/builtin-provider.js';
import { createLogger } from '../../src/log.js';
import type { Reply } from '../../src/pool/context-pool.js';
import type { PromptLibrary } from '../../src/prompts/prompt-library.js';
import type { ContextService, ContextTask } from '../../src/service/context-service.js';
import { builtinTools } from '../../src/tools/registry.js';

const encoder = new TextEncoder();

function reply(status: number, body: unknown, code?: string): Reply {
  return { head: { status, code }, body: encoder.encode(JSON.stringify(body)) as Reply['body'] };
}

/**
 * A context left unsettled by a turn that is gone (its own settling failed): the next
 * send_message settles it in Failed, and that change is published like any step, so a
 * subscriber sees the `state` event. The context service is a stand-in that plays such a
 * context; the engine and the event hub are the real ones.
 */
describe('ConversationEngine: settling an orphaned turn', () => {
  it('publishes the Failed state to subscribers', async () => {
    const tasks: ContextTask[] = [];
    let begun = 0;
    const contexts = {
      run: async (_id: string, _trace: string, task: ContextTask) => {
        tasks.push(task);
        if (task.op === 'beginTurn') {
          begun++;
          // Busy the first time (the orphan), then the context is gone: the send stops there.
          return begun === 1
            ? reply(409, { error: 'busy', code: 'context_busy' }, 'context_busy')
            : reply(404, { error: 'gone', code: 'not_found' }, 'not_found');
        }
        const context = {
          current_state: 'Failed',
          state_detail: { error: ORPHANED_TURN },
          version: 7,
        };
        return reply(200, { context, messages: [] });
      },
    } as unknown as ContextService;
    const hub = new EventHub();
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

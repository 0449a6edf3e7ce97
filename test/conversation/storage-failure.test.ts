import { execFileSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { appendMessage, createContext, type MessagePage, request } from '../support/http.js';
import { startServerProcess, useDataDir } from '../support/server-process.js';

/**
 * Makes `dir` read-only for real: a read-only bind mount (as root, where permissions do
 * not stop writes), or chmod for other users. Returns the undo, or null if neither works.
 */
function makeReadOnly(dir: string): (() => void) | null {
  try {
    execFileSync('mount', ['--bind', dir, dir], { stdio: 'ignore' });
    try {
      execFileSync('mount', ['-o', 'remount,ro,bind', dir], { stdio: 'ignore' });
    } catch {
      execFileSync('umount', [dir], { stdio: 'ignore' });
      throw new Error('remount failed');
    }
    return () => execFileSync('umount', [dir], { stdio: 'ignore' });
  } catch {
    if (process.getuid?.() === 0) return null;
    execFileSync('chmod', ['-R', 'a-w', dir]);
    return () => execFileSync('chmod', ['-R', 'u+w', dir]);
  }
}

describe('storage failure during a turn', () => {
  const data = useDataDir();

  test('read-only data dir: the action answers 500, the state is Failed, earlier data intact after restart', async (ctx) => {
    // One slot, so creating another context evicts the first (see below).
    const server = await startServerProcess(data.dir, { CACHE_MAX_CONTEXTS: '1' });
    let undo: (() => void) | null = null;
    try {
      const { id } = await createContext(server.url);
      await appendMessage(server.url, id, 'written before the failure');
      const sent = await request(`${server.url}/v1/contexts/${id}/actions/send_message`, {
        method: 'POST',
        json: { content: 'a full turn' },
      });
      expect(sent.status).toBe(200);
      const before = await request<MessagePage>(`${server.url}/v1/contexts/${id}/messages`);
      expect(before.body.total).toBe(3);
      // A resident context keeps its log open, and a read-only bind mount only stops new
      // opens: evict the context (another one takes the only slot, then goes), so its next
      // write opens the log afresh, as after a restart.
      const other = await createContext(server.url);
      expect(
        (await request(`${server.url}/v1/contexts/${other.id}`, { method: 'DELETE' })).status,
      ).toBe(204);

      undo = makeReadOnly(`${data.dir}/contexts`);
      if (undo === null) {
        ctx.skip(); // no way to make a directory read-only here
        return;
      }
      const failed = await request<{ code: string }>(
        `${server.url}/v1/contexts/${id}/actions/send_message`,
        { method: 'POST', json: { content: 'this cannot be stored' } },
      );
      expect(failed.status).toBe(500);
      expect(failed.body.code).toBe('storage_error');
      const state = await request<{ status: string; context: { state_detail: { error: string } } }>(
        `${server.url}/v1/contexts/${id}/state`,
      );
      expect(state.body.status).toBe('failed');
      expect(state.body.context.state_detail.error).toMatch(/storage/);
      // Nothing that could not be stored is visible.
      const during = await request<MessagePage>(`${server.url}/v1/contexts/${id}/messages`);
      expect(during.body.messages).toEqual(before.body.messages);
      // Plain writes fail cleanly too, and reads keep working.
      const append = await appendMessage(server.url, id, 'also refused');
      expect(append.status).toBe(500);
      expect((await request(`${server.url}/v1/contexts/${id}`)).status).toBe(200);
    } finally {
      await server.stop();
      undo?.();
    }

    const restarted = await startServerProcess(data.dir);
    try {
      const contexts = await request<{ contexts: { id: string; current_state: string }[] }>(
        `${restarted.url}/v1/contexts`,
      );
      expect(contexts.body.contexts).toHaveLength(1);
      const id = contexts.body.contexts[0]!.id;
      expect(contexts.body.contexts[0]!.current_state).toBe('Idle');
      const after = await request<MessagePage>(`${restarted.url}/v1/contexts/${id}/messages`);
      expect(after.body.messages.map((m) => m.content[0]!.text)).toEqual([
        'written before the failure',
        'a full turn',
        'You said: a full turn',
      ]);
    } finally {
      await restarted.stop();
    }
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { SummaryIndex } from '../../src/catalog/summary-index.js';
import { PromptLibrary } from '../../src/prompts/prompt-library.js';
import { removePrompt } from '../../src/service/prompt-removal.js';

/** The prompt-in-use rule, below the routes: a real library (real files) and a real index. */
describe('removePrompt', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ccs-prompts-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const summary = (id: string, systemPromptId: string | null, promptIds: string[]) => ({
    id,
    config: { model_id: 'm', mode: 'chat', system_prompt_id: systemPromptId, parameters: {} },
    current_state: 'Idle',
    active_branch_name: 'main',
    message_count: 0,
    updated_at: new Date(0).toISOString(),
    version: 1,
    prompt_ids: promptIds,
  });

  test('a prompt in use by a config or a branch is refused unless forced; others are deleted', async () => {
    const prompts = await PromptLibrary.open(dir);
    for (const id of ['by-config', 'by-branch', 'free']) await prompts.create({ id, content: id });
    const index = new SummaryIndex([
      summary('c1', 'by-config', ['by-config']),
      summary('c2', null, ['by-branch']),
    ]);
    for (const id of ['by-config', 'by-branch']) {
      await expect(removePrompt(prompts, index, id, false)).rejects.toMatchObject({
        status: 409,
        code: 'prompt_in_use',
        message: `system prompt "${id}" is used by 1 context(s); add ?force=true to delete it anyway`,
      });
      expect(prompts.get(id)).toBeDefined();
    }
    await removePrompt(prompts, index, 'by-branch', true);
    await removePrompt(prompts, index, 'free', false);
    await expect(removePrompt(prompts, index, 'free', true)).rejects.toMatchObject({
      status: 404,
    });
    const reopened = await PromptLibrary.open(dir);
    expect(reopened.list().map((p) => p.id)).toEqual(['by-config']);
  });
});

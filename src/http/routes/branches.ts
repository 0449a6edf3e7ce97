import { Hono } from 'hono';
import type { SystemPromptRef } from '../../model/types.js';
import { parseBranchUpdate, parseFork, requireBranchName } from '../../model/validate.js';
import type { BranchUpdate } from '../../protocol/messages.js';
import { readJson } from '../body.js';
import { contextRequest } from '../context-request.js';
import type { AppDeps, AppEnv } from '../env.js';
import { sendReply } from '../reply.js';

/** `/v1/contexts/{id}/branches`: fork, per-branch prompts, delete. */
export function branchRoutes(deps: AppDeps): Hono<AppEnv> {
  const { contexts, prompts } = deps;
  const app = new Hono<AppEnv>();

  app.post('/:id/branches', async (c) => {
    const { id, run } = contextRequest(c, contexts);
    const fork = parseFork(await readJson(c));
    const reply = await run({
      op: 'fork',
      name: fork.name,
      from: fork.from_branch,
      atMessageId: fork.at_message_id,
    });
    return sendReply(c, reply, `/v1/contexts/${id}/branches/${encodeURIComponent(fork.name)}`);
  });

  app.put('/:id/branches/:name', async (c) => {
    const { run } = contextRequest(c, contexts);
    const name = requireBranchName(c.req.param('name'), 'name');
    const request = parseBranchUpdate(await readJson(c));
    const update: BranchUpdate = {};
    if (request.system_prompt_id !== undefined) {
      update.system_prompt =
        request.system_prompt_id === null ? null : prompts.require(request.system_prompt_id);
    }
    if (request.system_prompt !== undefined) {
      update.system_prompt =
        request.system_prompt === null
          ? null
          : ({
              id: request.system_prompt.id ?? 'inline',
              content: request.system_prompt.content,
            } satisfies SystemPromptRef);
    }
    if (request.user_prompt !== undefined) update.user_prompt = request.user_prompt;
    return sendReply(c, await run({ op: 'updateBranch', name, update }));
  });

  app.delete('/:id/branches/:name', async (c) => {
    const { run } = contextRequest(c, contexts);
    const name = requireBranchName(c.req.param('name'), 'name');
    return sendReply(c, await run({ op: 'deleteBranch', name }));
  });

  return app;
}

import { Hono } from 'hono';
import { parseNewPrompt, parsePromptContent, requirePromptId } from '../../model/validate.js';
import { removePrompt } from '../../service/prompt-removal.js';
import { readJson } from '../body.js';
import type { AppDeps, AppEnv } from '../env.js';

/** `/v1/system-prompts`: the shared prompt library. */
export function systemPromptRoutes(deps: AppDeps): Hono<AppEnv> {
  const { prompts, index } = deps;
  const app = new Hono<AppEnv>();

  // `prompts` is the key clients of the original backend read. `system_prompts` (the same
  // list) is kept for clients of earlier releases of this server; it is deprecated.
  app.get('/', (c) => {
    const list = prompts.list();
    return c.json({ prompts: list, system_prompts: list });
  });

  app.post('/', async (c) => {
    const prompt = await prompts.create(parseNewPrompt(await readJson(c)));
    c.header('Location', `/v1/system-prompts/${encodeURIComponent(prompt.id)}`);
    return c.json(prompt, 201);
  });

  app.get('/:id', (c) => c.json(prompts.require(requirePromptId(c.req.param('id')))));

  app.put('/:id', async (c) => {
    const id = requirePromptId(c.req.param('id'));
    return c.json(await prompts.update(id, parsePromptContent(await readJson(c))));
  });

  app.delete('/:id', async (c) => {
    const id = requirePromptId(c.req.param('id'));
    await removePrompt(prompts, index, id, c.req.query('force') === 'true');
    return c.body(null, 204);
  });

  return app;
}

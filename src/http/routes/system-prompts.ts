import { Hono } from 'hono';
import { conflict } from '../../errors.js';
import { parseNewPrompt, parsePromptContent, requirePromptId } from '../../model/validate.js';
import type { IndexedSummary } from '../../slots/dto.js';
import { readJson } from '../body.js';
import type { AppDeps, AppEnv } from '../env.js';

/** `/v1/system-prompts`: the shared prompt library. */
export function systemPromptRoutes(deps: AppDeps): Hono<AppEnv> {
  const { prompts, index } = deps;
  const app = new Hono<AppEnv>();

  /** Contexts whose config or branches use prompt `id`, from the summary index. */
  const usersOf = (id: string): string[] =>
    index
      .page(index.size, 0)
      .filter((s) => {
        const summary = s as Partial<IndexedSummary>;
        const config = s.config as { system_prompt_id?: string | null } | undefined;
        return summary.prompt_ids?.includes(id) || config?.system_prompt_id === id;
      })
      .map((s) => s.id);

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
    prompts.require(id);
    if (c.req.query('force') !== 'true') {
      const users = usersOf(id);
      if (users.length > 0) {
        throw conflict(
          `system prompt "${id}" is used by ${users.length} context(s); add ?force=true to delete it anyway`,
          'prompt_in_use',
        );
      }
    }
    await prompts.remove(id);
    return c.body(null, 204);
  });

  return app;
}

import type { SummaryIndex } from '../catalog/summary-index.js';
import { conflict } from '../errors.js';
import type { PromptLibrary } from '../prompts/prompt-library.js';
import type { IndexedSummary } from '../slots/dto.js';

/** Contexts whose config or branches use prompt `id`, from the summary index (none loaded). */
export function contextsUsingPrompt(index: SummaryIndex, id: string): string[] {
  return index
    .page(index.size, 0)
    .filter((s) => {
      const summary = s as Partial<IndexedSummary>;
      const config = s.config as { system_prompt_id?: string | null } | undefined;
      return summary.prompt_ids?.includes(id) || config?.system_prompt_id === id;
    })
    .map((s) => s.id);
}

/**
 * Deletes a prompt from the library: 404 if there is none; 409 `prompt_in_use` while a
 * context's config or any of its branches uses it, unless `force`.
 */
export async function removePrompt(
  prompts: PromptLibrary,
  index: SummaryIndex,
  id: string,
  force: boolean,
): Promise<void> {
  prompts.require(id);
  if (!force) {
    const users = contextsUsingPrompt(index, id);
    if (users.length > 0) {
      throw conflict(
        `system prompt "${id}" is used by ${users.length} context(s); add ?force=true to delete it anyway`,
        'prompt_in_use',
      );
    }
  }
  await prompts.remove(id);
}

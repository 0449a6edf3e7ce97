import type { Config } from '../config.js';
import { BuiltinProvider } from './builtin-provider.js';
import { OpenAiProvider } from './openai-provider.js';
import type { LlmProvider } from './provider.js';

/** The provider `LLM_PROVIDER` names; `openai` needs `LLM_BASE_URL`. */
export function createProvider(config: Config): LlmProvider {
  if (config.llmProvider === 'builtin') return new BuiltinProvider();
  if (config.llmBaseUrl === undefined) {
    throw new Error('LLM_PROVIDER=openai needs LLM_BASE_URL (e.g. https://api.openai.com/v1)');
  }
  return new OpenAiProvider({
    baseUrl: config.llmBaseUrl,
    apiKey: config.llmApiKey,
    timeoutMs: config.llmTimeoutMs,
  });
}

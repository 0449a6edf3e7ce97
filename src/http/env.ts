import type { ResidentSet } from '../cache/resident-set.js';
import type { SummaryIndex } from '../catalog/summary-index.js';
import type { Config } from '../config.js';
import type { ConversationEngine } from '../engine/conversation-engine.js';
import type { EventHub } from '../events/event-hub.js';
import type { SseStreams } from '../events/sse-stream.js';
import type { Logger } from '../log.js';
import type { ContextPool } from '../pool/context-pool.js';
import type { PromptLibrary } from '../prompts/prompt-library.js';
import type { ContextService } from '../service/context-service.js';
import type { Arena } from '../shm/arena.js';

/** What the routes reach: built once by the server, shared by every request. */
export interface AppDeps {
  config: Config;
  log: Logger;
  pool: ContextPool;
  residents: ResidentSet;
  index: SummaryIndex;
  contexts: ContextService;
  arena: Arena;
  engine: ConversationEngine;
  prompts: PromptLibrary;
  events: EventHub;
  /** The open event streams (bounded per subscriber, ended at shutdown). */
  sse: SseStreams;
}

/** Hono's typed context for this app: per-request variables. */
export interface AppEnv {
  Variables: {
    traceId: string;
    log: Logger;
  };
}

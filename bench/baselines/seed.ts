import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

/**
 * The seed file a baseline loads at start (JSON lines): contexts exactly as the product
 * answered them, and, for the ceiling, the product's exact response bytes per path.
 */
export interface SeedContext {
  /** The context DTO as `GET /v1/contexts/{id}` answered it. */
  dto: Record<string, unknown>;
  /** Each branch's message ids, oldest first. */
  branches: { name: string; message_ids: string[] }[];
  /** The message pool: each message DTO as `GET …/messages` answered it. */
  messages: Record<string, unknown>[];
}

export type SeedLine = { context: SeedContext } | { response: { path: string; body: string } };

/** Streams the seed file line by line (it can hold 100k messages). */
export async function readSeedFile(file: string, onLine: (line: SeedLine) => void): Promise<void> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.length > 0) onLine(JSON.parse(line) as SeedLine);
  }
}

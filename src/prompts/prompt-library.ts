import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pack, unpack } from 'msgpackr';
import { conflict, notFound } from '../errors.js';

export interface SystemPrompt {
  id: string;
  content: string;
}

const FILE = 'system-prompts.msgpack';

/**
 * The shared library of system prompts, owned by the main thread (no lock: one thread).
 * Small, so it is kept whole in memory and rewritten whole on each change: atomically
 * (temp file, fsync, rename, directory fsync) and asynchronously, one write at a time, so
 * the main thread never blocks. A change is acknowledged only once it is durable.
 */
export class PromptLibrary {
  private writes: Promise<void> = Promise.resolve();

  private constructor(
    private readonly dir: string,
    private readonly prompts: Map<string, SystemPrompt>,
  ) {}

  static async open(dir: string): Promise<PromptLibrary> {
    let prompts: SystemPrompt[] = [];
    try {
      prompts = unpack(await readFile(join(dir, FILE))) as SystemPrompt[];
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') throw err;
    }
    return new PromptLibrary(dir, new Map(prompts.map((p) => [p.id, p])));
  }

  list(): SystemPrompt[] {
    return [...this.prompts.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  get(id: string): SystemPrompt | undefined {
    return this.prompts.get(id);
  }

  require(id: string): SystemPrompt {
    const prompt = this.prompts.get(id);
    if (prompt === undefined) throw notFound(`system prompt "${id}" not found`);
    return prompt;
  }

  async create(prompt: SystemPrompt): Promise<SystemPrompt> {
    if (this.prompts.has(prompt.id)) throw conflict(`system prompt "${prompt.id}" already exists`);
    return this.change(prompt.id, prompt);
  }

  async update(id: string, content: string): Promise<SystemPrompt> {
    this.require(id);
    return this.change(id, { id, content });
  }

  async remove(id: string): Promise<void> {
    this.require(id);
    await this.change(id, undefined);
  }

  /** Applies a change in memory, persists the library, and rolls back if that fails. */
  private async change(id: string, next: SystemPrompt | undefined): Promise<SystemPrompt> {
    const previous = this.prompts.get(id);
    if (next === undefined) this.prompts.delete(id);
    else this.prompts.set(id, next);
    const snapshot = this.list();
    const write = this.writes.then(() => this.persist(snapshot));
    this.writes = write.catch(() => {});
    try {
      await write;
    } catch (err) {
      if (previous === undefined) this.prompts.delete(id);
      else this.prompts.set(id, previous);
      throw err;
    }
    return next ?? previous!;
  }

  private async persist(prompts: SystemPrompt[]): Promise<void> {
    const target = join(this.dir, FILE);
    const temp = `${target}.tmp-${process.pid}`;
    const file = await open(temp, 'w');
    try {
      await file.writeFile(pack(prompts));
      await file.sync();
    } finally {
      await file.close();
    }
    try {
      await rename(temp, target);
    } catch (err) {
      await unlink(temp).catch(() => {});
      throw err;
    }
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}

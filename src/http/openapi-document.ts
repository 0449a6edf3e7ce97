import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const RELATIVE_PATH = join('docs', 'openapi.yaml');
/** How far above this module the repository root may be (src/http, or dist/src/http). */
const MAX_LEVELS_UP = 4;

let cached: { path: string; json: string } | undefined;

/**
 * Finds `docs/openapi.yaml` relative to this module, not the working directory, so the
 * server finds it whether it runs from `src/` or `dist/src/` and wherever it is started.
 */
export function openApiPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let level = 0; level <= MAX_LEVELS_UP; level++) {
    const candidate = join(dir, RELATIVE_PATH);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`${RELATIVE_PATH} not found above ${fileURLToPath(import.meta.url)}`);
}

/** The API's OpenAPI document as JSON text: read and parsed once per process. */
export function openApiJson(): string {
  if (cached === undefined) {
    const path = openApiPath();
    cached = { path, json: JSON.stringify(parse(readFileSync(path, 'utf8'))) };
  }
  return cached.json;
}

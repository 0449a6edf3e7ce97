import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { openApiJson, openApiPath } from '../../src/http/openapi-document.js';

// This test runs from test/unit/ (TypeScript, see vitest.config.ts): the repository is two up.
const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));

test('the OpenAPI document is found relative to the module (src/ or dist/src/), whatever the working directory', () => {
  const elsewhere = mkdtempSync(join(tmpdir(), 'ccs-cwd-'));
  const cwd = process.cwd();
  try {
    process.chdir(elsewhere);
    expect(openApiPath()).toBe(join(REPO, 'docs', 'openapi.yaml'));
    const doc = JSON.parse(openApiJson()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/openapi.json');
  } finally {
    process.chdir(cwd);
    rmSync(elsewhere, { recursive: true, force: true });
  }
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendPath, messageBody, seedProduct, writeSeedFile } from '../../bench/lib/dataset.js';
import { http } from '../../bench/lib/http.js';
import {
  baselineKeys,
  ceilingPaths,
  MAIN_PLAN,
  type MainPlan,
  mainSpecs,
  mixedReadPaths,
} from '../../bench/lib/plan.js';
import {
  BASELINES,
  type BaselineKind,
  type ServerProcess,
  startBaseline,
  startProduct,
} from '../../bench/lib/process.js';

/**
 * The benchmark compares like with like: every baseline, loaded from the seed file the
 * benchmark writes, answers the benchmark's requests with the product's exact bytes. The
 * dataset has the benchmark's shapes (1 KB messages, the hot page of 100, last pages of 50,
 * first pages of 50), only with smaller contexts so that it seeds in a second.
 */
const PLAN: MainPlan = {
  ...MAIN_PLAN,
  pageSizes: [60, 250],
  mixedContexts: 3,
  mixedMessages: 55,
};

describe('benchmark fairness: baselines serve the product bytes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ccs-bench-fair-'));
  let product: ServerProcess;
  const baselines = new Map<BaselineKind, ServerProcess>();
  let ids: Map<string, string>;

  beforeAll(async () => {
    product = await startProduct(join(dir, 'data'), { workers: 2 });
    ids = await seedProduct(product.url, mainSpecs(PLAN), {
      messageBytes: PLAN.messageBytes,
      concurrency: 16,
    });
    const seedFile = join(dir, 'seed.jsonl');
    await writeSeedFile(
      seedFile,
      product.url,
      baselineKeys(PLAN).map((k) => ids.get(k)!),
      ceilingPaths(ids, PLAN),
    );
    await Promise.all(
      BASELINES.map(async (kind) => baselines.set(kind, await startBaseline(kind, seedFile))),
    );
  });

  afterAll(async () => {
    await Promise.all([product?.stop(), ...[...baselines.values()].map((b) => b.stop())]);
    rmSync(dir, { recursive: true, force: true });
  });

  async function expectSameBytes(kind: BaselineKind, paths: string[]): Promise<void> {
    const baseline = baselines.get(kind)!;
    for (const path of paths) {
      const expected = await http(`${product.url}${path}`);
      const actual = await http(`${baseline.url}${path}`);
      expect(expected.status, path).toBe(200);
      expect({ path, status: actual.status }).toEqual({ path, status: 200 });
      expect(actual.headers.get('content-type')).toBe(expected.headers.get('content-type'));
      expect(actual.text.length, `${kind} ${path}`).toBe(expected.text.length);
      expect(actual.text === expected.text, `${kind} ${path}: bodies differ`).toBe(true);
    }
  }

  it.each(BASELINES)('%s answers the S1, S2 and S4 reads byte for byte', async (kind) => {
    const paths = ceilingPaths(ids, PLAN);
    expect(paths).toHaveLength(2 + PLAN.pageSizes.length);
    await expectSameBytes(kind, paths);
  });

  it.each(['mutex-clone', 'single-thread'] as const)(
    '%s answers the S3 reads byte for byte',
    async (kind) => {
      await expectSameBytes(kind, mixedReadPaths(ids, PLAN));
    },
  );

  // After every read comparison: an append changes the context's total on one side.
  it.each(['mutex-clone', 'single-thread'] as const)(
    '%s appends the same message shape as the product (S3, S5)',
    async (kind) => {
      // Each kind appends to its own context, so both servers have the same last message.
      const id = ids.get(kind === 'mutex-clone' ? 'mixed-0' : 'mixed-1')!;
      const init = { method: 'POST', json: messageBody(7, PLAN.messageBytes) };
      const mine = await http(`${baselines.get(kind)!.url}${appendPath(id)}`, init);
      const theirs = await http(`${product.url}${appendPath(id)}`, init);
      expect(mine.status).toBe(201);
      expect(theirs.status).toBe(201);
      expect(mine.headers.get('content-type')).toBe(theirs.headers.get('content-type'));
      // Ids and timestamps are each server's own; the shape, order and length are the same.
      const scrub = (text: string) =>
        text
          .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'ID')
          .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, 'TIME');
      expect(scrub(mine.text)).toBe(scrub(theirs.text));
      expect(mine.text.length).toBe(theirs.text.length);
      const mineMsg = JSON.parse(mine.text) as { parent_id: string };
      const theirsMsg = JSON.parse(theirs.text) as { parent_id: string };
      expect(mineMsg.parent_id).toBe(theirsMsg.parent_id);
    },
  );

  it('the product itself answers every benchmark read with 200 and no error', async () => {
    for (const path of [...ceilingPaths(ids, PLAN), ...mixedReadPaths(ids, PLAN)]) {
      const res = await http(`${product.url}${path}`);
      expect(res.status, path).toBe(200);
    }
  });
});

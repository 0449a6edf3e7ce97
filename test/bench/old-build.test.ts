import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCommit } from '../../bench/lib/old-build.js';

/**
 * S5's before-issue-12 system is built from git; where that cannot be done (no history
 * holding the commit: a tarball, a shallow clone) the bench says why and skips it.
 */
describe('building a past commit for the bench', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ccs-old-build-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('skips, saying why, a commit the checkout does not hold, without throwing', () => {
    const out = buildCommit('0123456789abcdef0123456789abcdef01234567', join(dir, 'build'));
    expect('skipped' in out).toBe(true);
    if ('skipped' in out) {
      expect(out.skipped).toMatch(/0123456789abcdef0123456789abcdef01234567/);
      expect(out.skipped).toMatch(/not in this checkout's git history/);
    }
    expect(existsSync(join(dir, 'build'))).toBe(false);
  });
});

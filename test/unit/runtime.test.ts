import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// CI runs the suite on more than one Node (scripts/with-node.sh sets EXPECT_NODE_MAJOR):
// this proves the test process (a vitest fork) and the processes tests spawn really run on
// the Node that was asked for, rather than on whatever `node` vitest happened to find.
describe('runtime', () => {
  const major = (version: string) => version.replace(/^v/, '').split('.')[0];

  it('runs on the requested Node, in the test fork and in spawned processes', () => {
    const spawned = execFileSync(process.execPath, ['-p', 'process.version'], {
      encoding: 'utf8',
    }).trim();
    console.log(`test fork: node ${process.version} (${process.execPath}); spawned: ${spawned}`);
    expect(spawned).toBe(process.version);
    const wanted = process.env.EXPECT_NODE_MAJOR;
    if (wanted !== undefined && wanted !== '') expect(major(process.version)).toBe(wanted);
  });

  it('is a supported Node (20.19+, 22.12+ or 24+)', () => {
    const [maj = 0, min = 0] = process.versions.node.split('.').map(Number);
    const supported = (maj === 20 && min >= 19) || (maj === 22 && min >= 12) || maj >= 24;
    expect(supported, process.version).toBe(true);
  });
});

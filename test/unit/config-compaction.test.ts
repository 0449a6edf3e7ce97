import { expect, test } from 'vitest';
import { loadConfig } from '../../src/config.js';

test('compaction settings: defaults, env, flags, and bad values rejected', () => {
  const defaults = loadConfig([], {});
  expect(defaults.compactLogRatio).toBe(1);
  expect(defaults.compactMinLogBytes).toBe(1024 * 1024);
  expect(defaults.compactAfterRecords).toBe(0);

  const set = loadConfig(['--compact-log-ratio', '0.25'], {
    COMPACT_MIN_LOG_BYTES: '4096',
    COMPACT_AFTER_RECORDS: '16',
  });
  expect(set.compactLogRatio).toBe(0.25);
  expect(set.compactMinLogBytes).toBe(4096);
  expect(set.compactAfterRecords).toBe(16);

  for (const bad of ['0', '-1', 'abc', '', '1000']) {
    expect(() => loadConfig([], { COMPACT_LOG_RATIO: bad })).toThrow(/COMPACT_LOG_RATIO/);
  }
  expect(() => loadConfig([], { COMPACT_MIN_LOG_BYTES: '1.5' })).toThrow(/COMPACT_MIN_LOG_BYTES/);
  expect(() => loadConfig([], { COMPACT_AFTER_RECORDS: '-1' })).toThrow(/COMPACT_AFTER_RECORDS/);
});

// The symbolizer's cache holds symbol tables, not file bytes, within profile.cacheBytes.
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_ELF_CACHE_BYTES, elfCacheBytes, loadElf, setElfCacheBytes, trimElfCache } from '../../../src/profile/symbolize/elf.js';

const BINARIES = ['/bin/ls', '/bin/cat', '/bin/sh', '/usr/bin/env', process.execPath];

afterAll(() => setElfCacheBytes(DEFAULT_ELF_CACHE_BYTES));

describe('ELF symbol-table cache', () => {
  it('counts each table once, far below the file size, and evicts the oldest past the budget', async () => {
    setElfCacheBytes(DEFAULT_ELF_CACHE_BYTES);
    const node = await loadElf(process.execPath);
    // node: ~100 MB of file, a few MB of symbols.
    expect(node.retainedBytes).toBeGreaterThan(0);
    const tables = await Promise.all(BINARIES.map((b) => loadElf(b)));
    const total = new Set(tables).size === tables.length ? tables.reduce((a, t) => a + t.retainedBytes, 0) : NaN;
    expect(elfCacheBytes()).toBe(total);
    // A second load is a hit: the same object, no new bytes.
    expect(await loadElf(process.execPath)).toBe(node);
    expect(elfCacheBytes()).toBe(total);

    // A budget of just the newest table: everything older goes.
    setElfCacheBytes(1);
    await loadElf('/bin/true'); // the newest entry stays even alone over the budget
    expect(elfCacheBytes()).toBe((await loadElf('/bin/true')).retainedBytes);
    expect(await loadElf(process.execPath)).not.toBe(node); // evicted, parsed again

    // Once the profile is symbolized, the table kept over the budget goes too.
    trimElfCache();
    expect(elfCacheBytes()).toBe(0);
    setElfCacheBytes(DEFAULT_ELF_CACHE_BYTES);
    await loadElf('/bin/true');
    trimElfCache(); // within the budget: kept
    expect(elfCacheBytes()).toBe((await loadElf('/bin/true')).retainedBytes);
  });
});

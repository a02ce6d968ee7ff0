import { describe, expect, it } from 'vitest';
import type { Profile } from '../../src/profile/model.js';
import { ProfileStore } from '../../src/profile/profile-store.js';

const profile = (id: string): Profile => ({
  id, startedAt: 0, hz: 99, seconds: 1, filters: { kernel: true, user: true, idle: false },
  samples: [], totalSamples: 0, stackErrors: { kernelMissing: 0, userMissing: 0, lost: 0, other: 0 }, warnings: [],
});

describe('ProfileStore', () => {
  it('keeps the most recently used profiles up to its bound', () => {
    const store = new ProfileStore(2);
    store.add(profile('a'));
    store.add(profile('b'));
    expect(store.get('a').id).toBe('a'); // a is now more recent than b
    store.add(profile('c'));
    expect(store.size).toBe(2);
    expect(store.get('a').id).toBe('a');
    expect(store.get('c').id).toBe('c');
    expect(() => store.get('b')).toThrow(expect.objectContaining({ code: 'PROFILE_NOT_FOUND', statusCode: 404 }));
  });

  it('names the bound when a profile is gone', () => {
    expect(() => new ProfileStore(20).get('nope')).toThrow('no stored profile "nope" (the last 20 are kept)');
  });
});

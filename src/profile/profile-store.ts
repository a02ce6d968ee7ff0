// The most recent profiles, by id, so a flamegraph can be fetched again in another format or
// compared with a later one. Bounded: the least recently used is dropped first.
import { BpfwasmError } from '../errors.js';
import type { Profile } from './model.js';

export class ProfileStore {
  /** Map iteration order is insertion order: the first key is the least recently used. */
  private readonly profiles = new Map<string, Profile>();

  constructor(private readonly keep: number) {}

  get size(): number {
    return this.profiles.size;
  }

  add(profile: Profile): void {
    this.profiles.delete(profile.id);
    this.profiles.set(profile.id, profile);
    while (this.profiles.size > this.keep) this.profiles.delete(this.profiles.keys().next().value!);
  }

  /** The profile, marked as recently used; PROFILE_NOT_FOUND when unknown or evicted. */
  get(id: string): Profile {
    const profile = this.profiles.get(id);
    if (!profile) {
      throw new BpfwasmError('PROFILE_NOT_FOUND', `no stored profile ${JSON.stringify(id)} (the last ${this.keep} are kept)`);
    }
    this.profiles.delete(id);
    this.profiles.set(id, profile);
    return profile;
  }
}

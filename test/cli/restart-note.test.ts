// What the CLI says after a load or promote about the next restart: the collector keeps no
// state on disk, so a version only survives a restart as a file in exporters.dirs.
import { describe, expect, it } from 'vitest';
import { restartNote } from '../../src/cli/exporters.js';

const version = (source: string) => ({
  version: 'abc', state: 'loaded', source, signed_by: '', events: 0, batches: 0, traps: 0, timeouts: 0, restarts: 0,
  dropped_events: 0, series: 0, last_error: '', loaded_at_unix_ms: 0,
});

describe('restartNote', () => {
  it.each([
    ['a promoted directory shadow: rename it over NAME.wasm', '/srv/exp/mine.shadow.wasm',
      'note: a restart loads /srv/exp/mine.wasm again; to keep this version, rename the shadow over it: mv /srv/exp/mine.shadow.wasm /srv/exp/mine.wasm\n'],
    ['an API load: not kept', 'api',
      'note: loaded through the API, so a restart does not load it again; put the file in a directory of exporters.dirs to keep it\n'],
    ['a directory file: nothing to say', '/srv/exp/mine.wasm', ''],
  ])('%s', (_what, source, note) => {
    expect(restartNote({ name: 'mine', current: version(source) })).toBe(note);
  });
});

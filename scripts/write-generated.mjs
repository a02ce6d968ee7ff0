// Writes a generated file, or with `check` fails (exit 1) when the committed one differs.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes `text` to `root`/`file` if it changed; with `check`, exits 1 naming the drift instead. */
export function writeGenerated(root, file, text, check) {
  let old;
  try {
    old = readFileSync(join(root, file), 'utf8');
  } catch {
    old = undefined;
  }
  if (old === text) return;
  if (check) {
    console.error(`${file} differs from the config schema; run \`npm run gen:config\``);
    process.exit(1);
  }
  writeFileSync(join(root, file), text);
}

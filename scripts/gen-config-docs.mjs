#!/usr/bin/env node
// Renders docs/CONFIG.md from the config schema (src/config-schema.ts, with the sensors' sections
// from ebpf/*/sensor.yaml). It reads the compiled schema in dist/, so `npm run build` runs it
// after tsc. `--check` fails when docs/CONFIG.md differs from what the schema says.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeGenerated } from './write-generated.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const { ConfigSchema } = await import(join(root, 'dist/src/config-schema.js'));
const { renderConfigReference } = await import(join(root, 'dist/src/config-docs.js'));
const FILE = 'docs/CONFIG.md';
const text = renderConfigReference(ConfigSchema, 'scripts/gen-config-docs.mjs from src/config-schema.ts');
writeGenerated(root, FILE, text, check);

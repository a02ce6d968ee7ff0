// scripts/gen-sensors.mjs: a sensor is its folder. Adding the toy sensor (test/fixtures/sensors/toy)
// to a copy of the tree and running the generators gives it a config section with its defaults,
// an entry in the helper's sensor table, a README row and a config reference section, while
// every other sensor's generated files stay as they are: no other file needs a hand edit. The
// copy's helper, built by the Makefile with the toy in it, loads the toy into the kernel.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { renderConfigReference } from '../../src/config-docs.js';
import { ConfigSchema } from '../../src/config-schema.js';
import { configChecker } from '../../src/config-ajv.js';
import { HelperFrames, buildHelper } from '../support/helper-run.js';
import { SENSORS } from '../../src/generated/sensors.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const gen = (...args: string[]) => spawnSync(process.execPath, [join(root, 'scripts/gen-sensors.mjs'), ...args], { encoding: 'utf8' });
const genSchema = (...args: string[]) => spawnSync(process.execPath, [join(root, 'scripts/gen-schema.mjs'), ...args], { encoding: 'utf8' });

let tree: string | undefined;
afterEach(() => {
  if (tree) rmSync(tree, { recursive: true, force: true });
  tree = undefined;
});

/** A copy of what the generators read and write: every sensor folder, events.yaml, README.md. */
function copyTree(): string {
  tree = mkdtempSync(join(tmpdir(), 'gen-sensors-'));
  for (const s of SENSORS) cpSync(join(root, 'ebpf', s), join(tree, 'ebpf', s), { recursive: true, preserveTimestamps: true, filter: (f) => !f.endsWith('.test.ts') });
  cpSync(join(root, 'ebpf/schema'), join(tree, 'ebpf/schema'), { recursive: true });
  // The README's sensor costs are quoted from BENCHMARKS.md; ABI.md holds the record tables.
  for (const file of ['README.md', 'BENCHMARKS.md', 'exporters/ABI.md']) cpSync(join(root, file), join(tree, file));
  mkdirSync(join(tree, 'src/generated'), { recursive: true });
  cpSync(join(root, 'src/generated/sensors.ts'), join(tree, 'src/generated/sensors.ts'));
  return tree;
}

const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8');

describe('scripts/gen-sensors.mjs', () => {
  it('finds the committed generated files in step with ebpf/*/sensor.yaml', () => {
    const r = gen('--check');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('takes in a new sensor from its folder alone: config section, helper table, README and reference', async () => {
    const dir = copyTree();
    const before = Object.fromEntries(SENSORS.map((s) => [s, read(dir, `ebpf/${s}/${s}.sensor.h`)]));
    cpSync(join(root, 'test/fixtures/sensors/toy'), join(dir, 'ebpf/toy'), { recursive: true });
    expect(readdirSync(join(dir, 'ebpf/toy')).sort()).toEqual(['README.md', 'sensor.yaml', 'toy.bpf.c', 'toy.helper.c']);

    const drift = gen('--check', '--root', dir);
    expect(drift.status).toBe(1);
    expect(drift.stderr).toContain('src/generated/sensors.ts, ebpf/toy/toy.sensor.h, README.md differ from ebpf/*/sensor.yaml');
    const r = gen('--root', dir);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(gen('--check', '--root', dir).status).toBe(0);

    // Its record layout, from its folder, in the generated headers and decoders.
    const schema = genSchema('--root', dir);
    expect(schema.stderr).toBe('');
    expect(schema.status).toBe(0);
    expect(read(dir, 'ebpf/include/bpfwasm_events.h')).toContain('BPFWASM_RECORD_TOY_TICK = 40');
    expect(read(dir, 'src/ingest/generated/events.ts')).toContain("{ id: 40, name: 'toy_tick', sensor: 'toy', size: 56");

    // The other sensors' table entries are untouched.
    for (const s of SENSORS) expect(read(dir, `ebpf/${s}/${s}.sensor.h`)).toBe(before[s]);

    // The helper's sensor table: the toy's entry, with its programs, option, ring, routes and hooks.
    const entry = read(dir, 'ebpf/toy/toy.sensor.h');
    expect(entry).toContain('#include "toy.skel.h"');
    expect(entry).toContain('.name = "toy"');
    expect(entry).toContain('.programs = (const char *const[]){ "toy_tick", "toy_tick_fentry", NULL }');
    expect(entry).toContain('{ BPFWASM_RECORD_TOY_TICK, sizeof(struct bpfwasm_toy_tick) }');
    expect(entry).toContain('.options = (const char *const[]){ "toy_level", NULL }');
    expect(entry).toContain('.ring_bytes = 131072');
    expect(entry).toContain('{ "tp_btf", (const char *const[]){ "toy_tick", NULL }, tp_btf_available }');
    expect(entry).toContain('static int toy_configure(void *skel);');
    expect(entry).toContain('SENSOR_REGISTER(toy_sensor);');

    // The README's sensor table has its row (off by default, so after the sensors that are on).
    const readme = read(dir, 'README.md');
    expect(readme).toContain('| [toy](ebpf/toy/README.md) | **off** | `bpfwasm_toy_ticks_total` | none, it is a toy |');
    expect(readme.replace(/^\| \[toy\].*\n/m, '')).toBe(read(root, 'README.md'));

    // The config schema: sensors.toy with its defaults, its checks naming the key, and its --set.
    const generated = await import(join(dir, 'src/generated/sensors.ts'));
    expect(generated.SENSORS).toEqual([...SENSORS, 'toy']);
    expect(generated.SENSOR_ROUTES.toy).toEqual(['tp_btf', 'fentry']);
    expect(generated.EXPORTER_OPTIONS.toy).toEqual(['level', 'mood']);
    expect(generated.SENSOR_ARGS).toContainEqual({ sensor: 'toy', option: 'level', variable: 'toy_level', always: false });
    const withToy = { ...ConfigSchema, properties: { ...ConfigSchema.properties, sensors: generated.SENSORS_SCHEMA } };
    const check = configChecker(withToy);
    const config = check({ sensors: { toy: { level: 7 } } }) as { sensors: Record<string, Record<string, unknown>> };
    expect(config.sensors.toy).toEqual({ level: 7, enabled: false, required: false, ringBytes: 0, route: 'auto', mood: 'calm' });
    expect(config.sensors.process).toMatchObject({ enabled: true, maxArgs: 20 });
    expect(() => check({ sensors: { toy: { level: 10 } } })).toThrow('config: sensors.toy.level must be an integer from 1 to 9, got 10');
    expect(() => check({ sensors: { toy: { route: 'kprobe' } } })).toThrow('config: sensors.toy.route must be one of auto, tp_btf, fentry, got "kprobe"');
    expect(() => check({ sensors: { toy: { colour: 'red' } } })).toThrow('config: sensors.toy.colour is not a known setting (known: enabled, required, ringBytes, route, level, mood)');

    // The config reference documents it.
    const reference = renderConfigReference(withToy, 'test');
    expect(reference).toContain('## `sensors.toy`\n\nA toy sensor that counts its ticks.');
    expect(reference).toContain('| `level` | integer 1–9 | `3` | How hard the toy ticks. Sets `toy_level` in its BPF program. |');
  });

  it('builds the toy into the copy\'s helper with the Makefile, and the helper loads it into the kernel', () => {
    buildHelper(); // the tree's own objects, copied below so that only the toy is compiled
    const dir = copyTree();
    cpSync(join(root, 'test/fixtures/sensors/toy'), join(dir, 'ebpf/toy'), { recursive: true });
    expect(genSchema('--root', dir).status).toBe(0);
    expect(gen('--root', dir).status).toBe(0);
    for (const part of ['Makefile', 'include', 'helper']) {
      cpSync(join(root, 'ebpf', part), join(dir, 'ebpf', part), { recursive: true, preserveTimestamps: true, force: false, filter: (f) => !f.endsWith('.test.ts') });
    }
    cpSync(join(root, 'ebpf/build'), join(dir, 'ebpf/build'), { recursive: true, preserveTimestamps: true, filter: (f) => !f.includes('/build/arm64') && !f.includes('/build/x86') });
    // The records header changed (the toy's record): the other sensors' objects, built against
    // the header without it, stay as they are (-o); the toy's own files are compiled against it.
    execFileSync('make', ['-s', '-C', join(dir, 'ebpf'), '-o', 'include/bpfwasm_events.h'], { stdio: ['ignore', 'ignore', 'pipe'] });

    const helper = spawnSync(join(dir, 'ebpf/build/bpfwasm-helper'), ['--sensors', 'toy', '--set', 'toy.toy_level=5', '--stats-ms', '50'], { input: '', timeout: 30_000 });
    expect(helper.stderr.toString()).toBe('');
    expect(helper.status).toBe(0);
    const frames = new HelperFrames([]);
    frames.push(helper.stdout);
    frames.end();
    expect(frames.hello.sensors.map((s: { name: string }) => s.name)).toEqual(['toy']);
    expect(frames.ready).toMatchObject({ sensors: ['toy'], failed: [], routes: { toy: 'tp_btf' } });
    // An option the toy does not declare is refused by the helper: its table entry lists toy_level only.
    const unknown = spawnSync(join(dir, 'ebpf/build/bpfwasm-helper'), ['--sensors', 'toy', '--set', 'toy.colour=1'], { input: '', timeout: 30_000 });
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr.toString()).toContain('colour');
  }, 120_000);

  it.each([
    ['a name other than its folder', (y: string) => y.replace('name: toy', 'name: toys'), 'ebpf/toy/sensor.yaml: name must be its folder\'s, "toy"'],
    ['a default out of its bounds', (y: string) => y.replace('default: 3', 'default: 12'), 'ebpf/toy/sensor.yaml.options.level.default: 12 is not a valid value of the option'],
    ['a route program it does not have', (y: string) => y.replace('programs: [toy_tick] }', 'programs: [toy_tock] }'), 'ebpf/toy/sensor.yaml.routes[0].programs: must list some of its programs'],
    ['an unknown key', (y: string) => `${y}colour: red\n`, 'ebpf/toy/sensor.yaml.colour: is not a known key'],
    ['a ring that is no power of two', (y: string) => y.replace('ringBytes: 131072', 'ringBytes: 5000'), 'ebpf/toy/sensor.yaml.ringBytes: must be 0 (--ring-bytes) or a power of two'],
  ])('refuses a declaration with %s, naming the key', (_what, edit, message) => {
    const dir = copyTree();
    cpSync(join(root, 'test/fixtures/sensors/toy'), join(dir, 'ebpf/toy'), { recursive: true });
    const file = join(dir, 'ebpf/toy/sensor.yaml');
    writeFileSync(file, edit(readFileSync(file, 'utf8')));
    const r = gen('--root', dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(message);
  });
});

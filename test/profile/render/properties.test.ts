// Whatever a process names its functions (any Unicode, lone surrogates, control characters,
// markup), every text format stays parseable and faithful.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { Frame, StackSample } from '../../../src/profile/model.js';
import { renderFolded } from '../../../src/profile/render/folded.js';
import { renderHtml } from '../../../src/profile/render/html.js';
import { renderSvg } from '../../../src/profile/render/svg.js';
import { buildTree, renderTreeJson } from '../../../src/profile/render/tree.js';
import { embeddedTree, profile } from './fixtures.js';
import { assertWellFormedXml } from './xml-check.js';

const name = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('</script>', '<!--', ']]>', '&amp;', 'a;b', 'x\ny', '\r', '\u2028', '\uD800', '"\'', ' ', ''),
);
const frame: fc.Arbitrary<Frame> = fc.record({ name, kind: fc.constantFrom('user', 'kernel', 'jit') as fc.Arbitrary<Frame['kind']> });
const sample: fc.Arbitrary<StackSample> = fc
  .tuple(name, fc.array(frame, { maxLength: 8 }), fc.integer({ min: 1, max: 1000 }))
  .map(([comm, frames, count]) => ({ pid: 1, comm, frames: [{ name: comm, kind: 'process' as const }, ...frames], count }));
const samples = fc.array(sample, { maxLength: 12 });
const total = (ss: StackSample[]) => ss.reduce((n, s) => n + s.count, 0);

describe('arbitrary frame names', () => {
  test('folded: one line per stack with every frame and the total count', () => {
    fc.assert(
      fc.property(samples, (ss) => {
        const lines = renderFolded(ss).toString().split('\n');
        expect(lines.pop()).toBe('');
        let sum = 0;
        for (const line of lines) {
          const m = /^(.*) (\d+)$/s.exec(line)!;
          sum += Number(m[2]);
          expect(ss.some((s) => s.frames.length === m[1]!.split(';').length)).toBe(true);
        }
        expect(sum).toBe(total(ss));
      }),
    );
  });

  test('json: parses back to the tree', () => {
    fc.assert(
      fc.property(samples, (ss) => {
        expect(JSON.parse(renderTreeJson(ss).toString())).toEqual(buildTree(ss));
      }),
    );
  });

  test('svg: well-formed XML', () => {
    fc.assert(fc.property(samples, name, (ss, w) => assertWellFormedXml(renderSvg(profile(ss, { id: w, warnings: [w] })).toString())));
  });

  test('html: the embedded tree survives and nothing closes the script early', () => {
    fc.assert(
      fc.property(samples, name, (ss, w) => {
        const html = renderHtml(profile(ss, { warnings: [w] })).toString();
        expect(html.match(/<\/script>/gi)).toHaveLength(4);
        expect(embeddedTree(html)).toEqual(buildTree(ss));
      }),
    );
  });
});

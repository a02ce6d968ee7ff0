// The interactive flamegraph in a real browser (Debian's Chromium): pages saved from the
// collector open from file:// with no network at all, draw the frames of a real profile, zoom
// on a click, and their search highlights a function (and says its share); the HTML page's
// sandwich shows the callers and callees of the selected function.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBurnC, type Workload } from '../profile/workloads.js';
import { HAVE_CHROMIUM, launchChromium } from './support/browser.js';
import { startCollector, waitReady, type RunningCollector } from './support/collector.js';

/** d3-flame-graph's fill for a frame that matches the search. */
const SEARCH_FILL = '#E600E6';

let collector: RunningCollector;
let burn: Workload;
let browser: BrowserContext;
let saved: string;

/** A page opened from disk; every request that is not file:// is refused and listed. */
async function openSaved(name: string, body: ArrayBuffer) {
  const path = join(saved, name);
  writeFileSync(path, Buffer.from(body));
  const page = await browser.newPage();
  const outside: string[] = [];
  await page.route('**/*', (route) => {
    if (route.request().url().startsWith('file://')) return route.continue();
    outside.push(route.request().url());
    return route.abort();
  });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`file://${path}`, { waitUntil: 'load' });
  return { page, outside, errors };
}

describe.skipIf(!HAVE_CHROMIUM)('interactive flamegraph in Chromium', () => {
  beforeAll(async () => {
    burn = startBurnC();
    saved = mkdtempSync(join(tmpdir(), 'bpfwasm-saved-'));
    collector = await startCollector();
    await waitReady(collector);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    burn?.stop();
    await collector?.stop();
  });

  it('a saved HTML page opens from file:// with no network, draws the frames, searches, zooms and shows callers and callees', async () => {
    const res = await fetch(`${collector.url}/flamegraph?pid=${burn.pid}&hz=99&seconds=3&format=json`);
    expect(res.status, await res.clone().text()).toBe(200);
    const id = res.headers.get('x-profile-id')!;
    // docs/PROFILING.md's own example: curl -o cpu.html, then open the file.
    const html = await fetch(`${collector.url}/flamegraph/${id}?format=html`);
    const { page, outside, errors } = await openSaved('cpu.html', await html.arrayBuffer());
    expect(outside, 'requests outside the file').toEqual([]);
    expect(errors).toEqual([]);

    await page.waitForFunction(() => document.querySelectorAll('#chart g rect').length > 2);
    const frame = page.locator('#chart g[name="burn_a"] rect').first();
    await expect.poll(() => frame.count()).toBeGreaterThan(0);
    expect((await frame.getAttribute('fill'))?.toUpperCase()).not.toBe(SEARCH_FILL);

    await page.fill('#search', 'burn_a');
    await page.click('#search-button');
    await expect.poll(async () => (await frame.getAttribute('fill'))?.toUpperCase()).toBe(SEARCH_FILL);
    // Only the match lights up.
    const other = page.locator('#chart g[name="burn_b"] rect').first();
    expect((await other.getAttribute('fill'))?.toUpperCase()).not.toBe(SEARCH_FILL);

    // Click to zoom: burn_a then spans the whole chart.
    const chartWidth = Number(await page.locator('#chart svg').first().getAttribute('width'));
    const before = Number(await frame.getAttribute('width'));
    expect(before).toBeLessThan(0.9 * chartWidth);
    await page.locator('#chart g[name="burn_a"]').first().click();
    await expect.poll(async () => Number(await frame.getAttribute('width'))).toBeGreaterThan(0.95 * chartWidth);

    // The top-functions table lists burn_a and burn_b with their self shares.
    const rows = await page.locator('#top tbody tr').allTextContents();
    expect(rows.some((r) => r.endsWith('burn_a'))).toBe(true);
    expect(rows.some((r) => r.endsWith('burn_b'))).toBe(true);

    // The click on burn_a also opened its sandwich: main calls it every time.
    const cells = (id: string) => page.locator(`#${id} tbody tr`).evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    await expect.poll(() => page.locator('#sandwich').isVisible()).toBe(true);
    expect(await page.locator('#sandwich-name').textContent()).toBe('burn_a');
    const callers = await cells('callers');
    expect(callers.map((r) => [r[1], r[2]])).toEqual([['100.00%', 'main']]);
    const callees = await cells('callees');
    expect(callees[0]![2], JSON.stringify(callees)).toBe('(self)');
    expect(callees.reduce((n, r) => n + Number(r[0]), 0)).toBe(Number((await page.locator('#sandwich-total').textContent())!.split(' ')[0]));

    // Following a caller: main's callees are burn_a and burn_b near their 75/25 split.
    await page.locator('#callers tbody tr', { hasText: 'main' }).click();
    await expect.poll(() => page.locator('#sandwich-name').textContent()).toBe('main');
    const split = Object.fromEntries((await cells('callees')).map((r) => [r[2], parseFloat(r[1]!)]));
    expect(split.burn_a, JSON.stringify(split)).toBeGreaterThan(60);
    expect(split.burn_b, JSON.stringify(split)).toBeGreaterThan(12);
    // main has one caller (libc's start code), which holds all of main's samples.
    expect((await cells('callers')).map((r) => r[1])).toEqual(['100.00%']);

    // A top-functions row opens the sandwich of that function too.
    await page.locator('#top tbody tr', { hasText: 'burn_b' }).first().click();
    await expect.poll(() => page.locator('#sandwich-name').textContent()).toBe('burn_b');
    await page.close();
  });

  it('a saved SVG opens from file:// with no network, zooms on a click and searches with the matched share', async () => {
    const res = await fetch(`${collector.url}/flamegraph?pid=${burn.pid}&hz=99&seconds=3&format=svg`);
    expect(res.status, await res.clone().text()).toBe(200);
    const { page, outside, errors } = await openSaved('cpu.svg', await res.arrayBuffer());
    expect(outside, 'requests outside the file').toEqual([]);
    expect(errors).toEqual([]);

    const burnA = page.locator('g.f', { has: page.locator('title', { hasText: /^burn_a / }) }).first();
    const rect = burnA.locator('rect');
    const before = Number(await rect.getAttribute('width'));
    expect(before).toBeGreaterThan(100);
    expect(before).toBeLessThan(1100);
    await burnA.click();
    await expect.poll(async () => Number(await rect.getAttribute('width'))).toBe(1180);
    expect(await page.locator('#reset').getAttribute('visibility')).toBe('visible');
    // burn_b is not under burn_a: hidden while zoomed.
    const burnB = page.locator('g.f', { has: page.locator('title', { hasText: /^burn_b / }) }).first();
    expect(await burnB.isVisible()).toBe(false);
    await page.locator('#reset').click();
    await expect.poll(async () => Number(await rect.getAttribute('width'))).toBeCloseTo(before, 0);

    // Search through the prompt, as flamegraph.pl's does.
    page.once('dialog', (d) => d.accept('burn_'));
    await page.locator('#search').click();
    await expect.poll(() => rect.getAttribute('fill')).toBe('rgb(230,0,230)');
    const matched = await page.locator('#matched').textContent();
    const share = Number(/Matched: ([\d.]+)%/.exec(matched ?? '')?.[1]);
    // burn_a and burn_b hold nearly all of the workload's samples (the rest: libc's clock_gettime leaves).
    expect(share).toBeGreaterThan(85);
    expect(share).toBeLessThanOrEqual(100);
    await page.close();
  });
});

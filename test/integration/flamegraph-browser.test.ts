// The interactive flamegraph in a real browser (Debian's Chromium): it loads only from the
// collector, draws the frames of a real profile, and its search highlights a function.
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

describe.skipIf(!HAVE_CHROMIUM)('interactive flamegraph in Chromium', () => {
  beforeAll(async () => {
    burn = startBurnC();
    collector = await startCollector();
    await waitReady(collector);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    burn?.stop();
    await collector?.stop();
  });

  it('loads only from the collector, draws the frames, and highlights a search match', async () => {
    const res = await fetch(`${collector.url}/flamegraph?pid=${burn.pid}&hz=99&seconds=3&format=json`);
    expect(res.status, await res.clone().text()).toBe(200);
    const id = res.headers.get('x-profile-id')!;

    const page = await browser.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${collector.url}/flamegraph/${id}?format=html`, { waitUntil: 'networkidle' });

    const origin = new URL(collector.url).origin;
    expect(requests.length).toBeGreaterThan(1); // the page and its scripts
    expect(requests.filter((u) => new URL(u).origin !== origin), 'requests outside the collector').toEqual([]);
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
  });
});

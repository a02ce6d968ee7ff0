// GET / in a real browser (Debian's Chromium) with JavaScript off: version, uptime, the sensors,
// and links to every endpoint that a person can follow.
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAVE_CHROMIUM, launchChromium } from './support/browser.js';
import { onlySensors, startCollector, waitReady, type RunningCollector } from './support/collector.js';

let collector: RunningCollector;
let browser: BrowserContext;

describe.skipIf(!HAVE_CHROMIUM)('landing page in Chromium without JavaScript', () => {
  beforeAll(async () => {
    collector = await startCollector({ sensors: onlySensors({ process: {}, tcp: {} }) });
    await waitReady(collector);
    browser = await launchChromium({ javaScriptEnabled: false });
  });

  afterAll(async () => {
    await browser?.close();
    await collector?.stop();
  });

  it('shows version, uptime and sensors, and every link leads to a working endpoint', async () => {
    const page = await browser.newPage();
    const requested: string[] = [];
    page.on('request', (r) => requested.push(r.url()));
    const res = await page.goto(`${collector.url}/`);
    expect(res!.status()).toBe(200);
    expect(await page.title()).toBe('bpfwasm 0.1.0');
    const body = await page.locator('body').innerText();
    expect(body).toMatch(/Version 0\.1\.0, up \d+[smhd]/);
    expect(await page.locator('table tr td:first-child').allInnerTexts()).toEqual(['process', 'tcp']);
    expect(await page.locator('table tr td:nth-child(2)').allInnerTexts()).toEqual(['attached', 'attached']);
    // One request: no script, no stylesheet, nothing from elsewhere.
    expect(requested).toEqual([`${collector.url}/`]);

    const hrefs = await page.locator('a').evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).getAttribute('href')!));
    expect(hrefs).toEqual(expect.arrayContaining(['/metrics', '/metrics/shadow', '/flamegraph?seconds=10', '/healthz', '/readyz']));
    expect(hrefs.filter((h) => h.startsWith('/federate?match[]='))).toHaveLength(3);
    for (const href of hrefs.filter((h) => !h.startsWith('/flamegraph'))) {
      const r = await fetch(`${collector.url}${href}`);
      expect(r.status, href).toBe(200);
      if (href.startsWith('/federate')) expect(await r.text(), href).toMatch(/^bpfwasm_/m);
    }
    // A click works without JavaScript.
    await page.click('a[href="/healthz"]');
    expect(await page.locator('body').innerText()).toContain('"status":"ok"');
  });
});

/// <reference lib="dom" />
// Callbacks passed to page.evaluate and friends run in the browser, hence the DOM types.
import fs from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Observer, poll, startService, type TestService } from '../support/harness.ts';
import { WORKLOAD_KEYS, workload } from '../support/workload.ts';

/**
 * The dashboard in Debian's Chromium, driven by playwright-core (never a downloaded browser). Skipped
 * only on a developer machine without Chromium; in CI (`CI` set) a missing browser fails the run.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.resolve('test-artifacts');
const runnable = fs.existsSync(CHROMIUM) || Boolean(process.env.CI);

const EXPECTED: Record<string, string> = {
  [WORKLOAD_KEYS.sequential]: 'sequential',
  [WORKLOAD_KEYS.periodic]: 'periodic',
  [WORKLOAD_KEYS.burst]: 'burst',
  [WORKLOAD_KEYS.leader]: 'correlated',
  [WORKLOAD_KEYS.follower]: 'correlated',
  [WORKLOAD_KEYS.random]: 'random',
};

describe.skipIf(!runnable)('dashboard in a real browser', () => {
  let svc: TestService;
  let obs: Observer;
  let browser: Browser;
  let page: Page;
  let origin: string;
  const accessTopic = () => `${svc.config.mqtt.baseTopic}/access/test`;

  /** The table as the page shows it: key → pattern badges. */
  const table = () =>
    page.$$eval('#keys tbody tr[data-key]', (rows) =>
      Object.fromEntries(
        rows.map((r) => [
          (r as HTMLElement).dataset.key,
          Array.from(r.querySelectorAll('.badge'), (b) => b.textContent).join(' '),
        ]),
      ),
    );

  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    svc = await startService({ overrides: { http: { enabled: true, port: 0 } } });
    origin = `http://127.0.0.1:${svc.service.http!.port}`;
    obs = await Observer.connect(svc.url, []);
    // History that ended five minutes ago: replayed, so engine time stays there and the burst holds.
    const events = workload(Date.now() - 5 * 60_000);
    for (let i = 0; i < events.length; i += 500) {
      await obs.publish(accessTopic(), JSON.stringify(events.slice(i, i + 500)));
    }
    await poll('every workload key tracked', () =>
      svc.service.engine.keys.size === Object.keys(EXPECTED).length ? true : undefined,
    );
    // playwright-core gives every launch a fresh, empty user-data-dir of its own.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    page.on('pageerror', (err) => {
      throw err;
    });
  });

  afterAll(async () => {
    await browser?.close();
    await obs?.close();
    await svc?.stop();
  });

  it('shows every key with its pattern in the table', async () => {
    await page.goto(origin);
    await page.waitForFunction((n) => document.querySelectorAll('#keys tbody tr[data-key]').length === n, 6);
    const shown = await table();
    for (const [key, pattern] of Object.entries(EXPECTED)) expect(shown[key]).toContain(pattern);
    await expect.poll(() => page.locator('.bursting').textContent()).toContain(WORKLOAD_KEYS.burst);
    expect(await page.locator('#rate-chart canvas').count()).toBe(1);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-overview.png') });
  });

  it('searches and sorts the table', async () => {
    await page.fill('#search', 'docs/');
    await page.waitForFunction(() => document.querySelectorAll('#keys tbody tr[data-key]').length === 2);
    await page.fill('#search', '');
    await page.waitForFunction(() => document.querySelectorAll('#keys tbody tr[data-key]').length === 6);
    await page.click('th[data-sort="accesses"]');
    await expect
      .poll(() => page.locator('#keys tbody tr[data-key]').first().getAttribute('data-key'))
      .toBe(WORKLOAD_KEYS.burst);
  });

  it('draws a key page: timeline, positions and partners', async () => {
    await page.click(`#keys a[href="#/key/${encodeURIComponent(WORKLOAD_KEYS.sequential)}"]`);
    // The key page redraws every 2 s, replacing its canvas: ask again if it was swapped under us.
    const size = async () => {
      const box = await page.locator('#timeline canvas').boundingBox();
      return box ? Math.min(box.width, box.height) : 0;
    };
    await expect.poll(size).toBeGreaterThan(0);
    await page.locator('#positions canvas').waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-sequential.png'), fullPage: true });

    await page.goto(`${origin}/#/key/${encodeURIComponent(WORKLOAD_KEYS.leader)}`);
    await expect
      .poll(() => page.locator('table tbody').last().textContent())
      .toContain(WORKLOAD_KEYS.follower);
    await page.goto(`${origin}/#/key/${encodeURIComponent(WORKLOAD_KEYS.burst)}`);
    await page.locator('#timeline canvas').waitFor();
    await expect.poll(() => page.locator('.details').textContent()).toContain('× usual');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-burst.png'), fullPage: true });
    await page.goto(`${origin}/#/key/${encodeURIComponent(WORKLOAD_KEYS.periodic)}`);
    await expect.poll(() => page.locator('.details').textContent()).toContain('Next expected');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-periodic.png'), fullPage: true });
  });

  it('shows a new key live, without reloading', async () => {
    await page.goto(`${origin}/#/`);
    await page.waitForFunction(() => document.querySelectorAll('#keys tbody tr[data-key]').length === 6);
    await expect.poll(() => page.locator('#live').textContent()).toBe('live');
    await page.evaluate(() => {
      (window as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    await obs.publish(accessTopic(), JSON.stringify({ key: 'live/just-arrived', position: 0, size: 10 }));
    await page.locator('#keys tbody tr[data-key="live/just-arrived"]').waitFor({ timeout: 10_000 });
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(
      true,
    );
  });

  it('asks for the token when one is set, then works with it', async () => {
    const token = 'a-long-enough-dashboard-token';
    const guarded = await startService({ overrides: { http: { enabled: true, port: 0, token } } });
    const context = await browser.newContext();
    try {
      const tab = await context.newPage();
      await tab.goto(`http://127.0.0.1:${guarded.service.http!.port}/`);
      await tab.locator('#token-dialog[open]').waitFor();
      await tab.fill('#token-input', token);
      await tab.click('#token-dialog button');
      await tab.locator('#keys').waitFor();
      await expect.poll(() => tab.locator('#live').textContent()).toBe('live');
      expect(await tab.locator('.health').textContent()).toBe('healthy');
    } finally {
      await context.close();
      await guarded.stop();
    }
  });

  it('forgets a key from its page through the bridge', async () => {
    await page.goto(`${origin}/#/key/${encodeURIComponent(WORKLOAD_KEYS.random)}`);
    await page.locator('#timeline canvas').waitFor();
    page.once('dialog', (dialog) => void dialog.accept());
    await page.click('#forget');
    await page.waitForURL(/#\/$/);
    expect(svc.service.engine.keys.slotOf(WORKLOAD_KEYS.random)).toBe(-1);
    await expect.poll(async () => Object.keys(await table())).not.toContain(WORKLOAD_KEYS.random);
  });
});

// A real browser for the dashboard's tests: Debian's Chromium driven by playwright-core (no
// browser is ever downloaded), with each page's console errors, axe-core's accessibility
// check and a screenshot saved with the test output.
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const ARTIFACTS = join(import.meta.dirname, '..', 'artifacts', 'dash');

/** Chromium's path: CHROMIUM_PATH, else Debian's package (`apt-get install chromium`). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function launch(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // The sandbox needs user namespaces, which CI containers running as root often lack.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

const axeSource = readFileSync(
  join(dirname(createRequire(import.meta.url).resolve('axe-core')), 'axe.min.js'),
  'utf8',
);

/** A page that remembers every console error, failed request and uncaught exception. */
export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  problems: string[];
}

export async function openPage(
  browser: Browser,
  viewport = { width: 1280, height: 800 },
): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    // Asking who is logged in answers 401 before a login: that is how the app learns it.
    if (/status of 401/.test(m.text()) && m.location().url.endsWith('/dash/api/session')) return;
    problems.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('requestfailed', (r) => {
    // An EventSource closed by navigation is not a failure of the page.
    if (r.failure()?.errorText !== 'net::ERR_ABORTED') problems.push(`request failed: ${r.url()}`);
  });
  return { page, context, problems };
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: string[] }>;
}

/**
 * axe-core's violations of the page as it is now, serious and critical ones. axe is run through
 * the DevTools protocol (page.evaluate), which the page's CSP does not govern: nothing is
 * injected into the page as a script element.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  // A string is evaluated by the protocol itself: no eval() inside the page, which its CSP forbids.
  if (!(await page.evaluate('typeof window.axe === "object"'))) await page.evaluate(axeSource);
  const found = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as {
        axe: { run(o: unknown): Promise<{ violations: AxeViolation[] }> };
      }
    ).axe;
    const r = await axe.run({ resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => ({ target: n.target })),
    }));
  });
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export async function screenshot(page: Page, name: string): Promise<string> {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

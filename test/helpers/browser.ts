// Debian's chromium driven by playwright-core, for the console's end-to-end tests. Never downloads
// a browser: `chromium` comes from SYSTEM_DEPS (scripts/system-deps.mjs) and is required in CI.
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { REPO_ROOT } from './gatehouse.js';
import { isCI, requireTool } from './tools.js';

// Without the background-networking flags chromium keeps calling home, and this machine's closed
// network refuses it many times a second.
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export interface TestBrowser {
  browser: Browser;
  /** A fresh context (own cookies and sessionStorage) that accepts the org-issued certificate. */
  newContext(): Promise<BrowserContext>;
  /** A page in a fresh context, 10 s timeouts; its uncaught script errors land in `pageErrors`. */
  newPage(): Promise<{ context: BrowserContext; page: Page }>;
  /** Uncaught errors in the pages' own scripts (a test expects none). */
  readonly pageErrors: string[];
  close(): Promise<void>;
}

/**
 * One headless chromium with an empty profile. The contexts ignore certificate errors: the
 * control plane's certificate is issued by the test's own org CA, which chromium does not know.
 * Use `skipUnlessTools('chromium')` on the suite so a machine without it skips (never in CI).
 */
export async function launchChromium(): Promise<TestBrowser> {
  const executablePath = requireTool('chromium');
  // playwright gives every launch a new, empty --user-data-dir of its own and removes it on close.
  const browser = await chromium.launch({ executablePath, headless: true, args: FLAGS });
  const newContext = () =>
    browser.newContext({
      ignoreHTTPSErrors: true,
      viewport: { width: 1360, height: 900 },
      deviceScaleFactor: 1,
    });
  const pageErrors: string[] = [];
  return {
    browser,
    newContext,
    pageErrors,
    newPage: async () => {
      const context = await newContext();
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      page.on('pageerror', (err) => pageErrors.push(err.message));
      return { context, page };
    },
    close: () => browser.close().catch(() => undefined),
  };
}

/**
 * Where the console tests save their screenshots: docs/screenshots/ (the README's pictures) in CI
 * (a throwaway clone) or with GATEHOUSE_UPDATE_SCREENSHOTS=1; else a directory under the system
 * temp dir, so that a local run leaves the working tree clean.
 */
export function screenshotDir(): string {
  const dir =
    process.env.GATEHOUSE_UPDATE_SCREENSHOTS === '1' || isCI
      ? join(REPO_ROOT, 'docs', 'screenshots')
      : join(tmpdir(), 'gatehouse-console-screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}

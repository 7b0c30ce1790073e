import { existsSync } from 'node:fs';
import { ConfigurationError, ExternalError } from '../errors.js';

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

/** The default path, else where Debian/Ubuntu images and GitHub's runners keep Chromium or Chrome. */
export function findChromium(wanted: string, env: Readonly<Record<string, string | undefined>>): string {
  if (wanted !== DEFAULT_CHROMIUM || existsSync(wanted)) return wanted;
  const others = [env.CHROME_PATH, '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'].filter((p): p is string => Boolean(p));
  return others.find((p) => existsSync(p)) ?? wanted;
}

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/**
 * Prints an HTML page to PDF with headless Chromium (playwright-core). The page may load nothing: every
 * request is aborted, so no image or report data leaves the machine.
 */
export async function printPdf(html: string, opts: { chromium: string; footer: string }): Promise<Uint8Array> {
  const { chromium } = await import('playwright-core');
  let browser;
  try {
    browser = await chromium.launch({ executablePath: opts.chromium, args: CHROMIUM_ARGS });
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    if (/ENOENT|doesn't exist|no such file/i.test((e as Error).message)) {
      throw new ConfigurationError(`Chromium not found at ${opts.chromium}`, { hint: 'install it (apt-get install chromium), pass --chromium PATH, or --no-pdf to skip report.pdf' });
    }
    throw new ExternalError(`headless Chromium did not start: ${msg}`, { hint: 'check the Chromium installation, or pass --no-pdf' });
  }
  try {
    const page = await browser.newPage();
    await page.route('**/*', (route) => route.abort());
    await page.setContent(html, { waitUntil: 'load' });
    const pdf = await page.pdf({
      format: 'A4',
      printBackground: true,
      displayHeaderFooter: true,
      headerTemplate: '<span></span>',
      footerTemplate: opts.footer,
      margin: { top: '16mm', bottom: '18mm', left: '14mm', right: '14mm' },
    });
    return new Uint8Array(pdf);
  } finally {
    await browser.close();
  }
}

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigurationError, ExternalError } from '../errors.js';
import { findOnPath, isExecutable } from '../fs/which.js';

/** Names of Chromium and Chrome on PATH, in the order they are tried. */
export const CHROMIUM_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

/** Where Debian/Ubuntu, snap, Google's packages and macOS put Chromium or Chrome, tried after PATH. */
export const CHROMIUM_PATHS = [
  '/usr/bin/chromium',
  '/usr/lib/chromium/chromium',
  '/snap/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/opt/google/chrome/chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
];

/** The Chromium builds Playwright downloaded (`npx playwright install chromium`), newest first. */
function playwrightChromium(env: Readonly<Record<string, string | undefined>>): string[] {
  const cache = env.PLAYWRIGHT_BROWSERS_PATH || (env.HOME ? join(env.HOME, '.cache', 'ms-playwright') : '');
  if (!cache) return [];
  let dirs: string[] = [];
  try {
    dirs = readdirSync(cache).filter((d) => /^chromium-\d+$/.test(d)).sort((a, b) => b.localeCompare(a, 'en', { numeric: true }));
  } catch {
    return [];
  }
  return dirs.flatMap((d) => ['chrome-linux64', 'chrome-linux'].map((sub) => join(cache, d, sub, 'chrome')));
}

/**
 * The Chromium that prints the PDF: --chromium when given, else $MLLOOP_CHROMIUM or $CHROME_PATH, else the first of
 * CHROMIUM_NAMES on PATH, else the first of `known` (CHROMIUM_PATHS and Playwright's downloads) that exists.
 * None: exit 2 naming everything searched.
 */
export function findChromium(wanted: string | undefined, env: Readonly<Record<string, string | undefined>>, known: readonly string[] = [...CHROMIUM_PATHS, ...playwrightChromium(env)]): string {
  if (wanted) return wanted;
  const override = env.MLLOOP_CHROMIUM || env.CHROME_PATH;
  if (override) return override;
  const hit = findOnPath(CHROMIUM_NAMES, env) ?? known.find(isExecutable);
  if (hit) return hit;
  throw new ConfigurationError(`Chromium not found: searched $MLLOOP_CHROMIUM, $CHROME_PATH, PATH for ${CHROMIUM_NAMES.join(', ')}, and ${known.join(', ')}`, {
    hint: 'install it (apt-get install chromium), pass --chromium PATH or set MLLOOP_CHROMIUM, or --no-pdf to skip report.pdf',
  });
}

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/**
 * Prints an HTML page to PDF with headless Chromium, speaking the DevTools protocol over Chromium's own
 * pipe (--remote-debugging-pipe: commands on fd 3, answers on fd 4, NUL-terminated JSON). No browser
 * driver is needed, so the bundled action prints wherever Chromium or Chrome is installed. Every
 * request the page makes is failed (Fetch domain), so no image or report data leaves the machine.
 */
export async function printPdf(html: string, opts: { chromium: string; footer: string; timeoutMs?: number }): Promise<Uint8Array> {
  const { spawn } = await import('node:child_process');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const profile = mkdtempSync(join(tmpdir(), 'mlloop-chromium-'));
  const child = spawn(opts.chromium, ['--headless', ...CHROMIUM_ARGS, '--remote-debugging-pipe', `--user-data-dir=${profile}`, 'about:blank'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
  });
  const toBrowser = child.stdio[3] as NodeJS.WritableStream;
  const fromBrowser = child.stdio[4] as NodeJS.ReadableStream;
  // A Chromium that never started (or died) closes the pipes: the 'error'/'close' handlers report it.
  toBrowser.on('error', () => {});
  fromBrowser.on('error', () => {});
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  const events: { method: string; sessionId?: string; params: Record<string, unknown> }[] = [];
  const waiters: (() => void)[] = [];
  let failed: Error | undefined;
  const failAll = (e: Error) => {
    failed ??= e;
    for (const p of pending.values()) p.reject(failed);
    pending.clear();
    for (const w of waiters.splice(0)) w();
  };
  child.on('error', (e: NodeJS.ErrnoException) =>
    failAll(
      e.code === 'ENOENT'
        ? new ConfigurationError(`Chromium not found at ${opts.chromium}`, { hint: 'install it (apt-get install chromium), pass --chromium PATH, or --no-pdf to skip report.pdf' })
        : new ExternalError(`headless Chromium did not start: ${e.message}`, { hint: 'check the Chromium installation, or pass --no-pdf' }),
    ),
  );
  child.on('close', (code) => failAll(new ExternalError(`headless Chromium exited (code ${code}) before the PDF was printed: ${stderr.trim().split('\n').pop() ?? ''}`, { hint: 'check the Chromium installation, or pass --no-pdf' })));
  let buf = '';
  fromBrowser.setEncoding?.('utf8');
  fromBrowser.on('data', (chunk: string) => {
    buf += chunk;
    let end: number;
    while ((end = buf.indexOf('\0')) >= 0) {
      const msg = JSON.parse(buf.slice(0, end)) as { id?: number; result?: Record<string, unknown>; error?: { message: string }; method?: string; sessionId?: string; params?: Record<string, unknown> };
      buf = buf.slice(end + 1);
      if (msg.id !== undefined) {
        const p = pending.get(msg.id);
        pending.delete(msg.id);
        if (msg.error) p?.reject(new ExternalError(`Chromium: ${msg.error.message}`));
        else p?.resolve(msg.result ?? {});
      } else if (msg.method) {
        events.push({ method: msg.method, sessionId: msg.sessionId, params: msg.params ?? {} });
        for (const w of waiters.splice(0)) w();
      }
    }
  });
  let nextId = 0;
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      if (failed) return reject(failed);
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });
  const nextEvent = async (method: string, sessionId: string) => {
    for (;;) {
      const i = events.findIndex((e) => e.method === method && e.sessionId === sessionId);
      if (i >= 0) return events.splice(i, 1)[0]!;
      if (failed) throw failed;
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  const timer = setTimeout(() => failAll(new ExternalError(`headless Chromium did not print the PDF within ${(opts.timeoutMs ?? 60_000) / 1000}s`)), opts.timeoutMs ?? 60_000);
  try {
    const { targetId } = (await send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    // Fail every request the page would make (the report is self-contained; nothing may leave).
    await send('Fetch.enable', { patterns: [{ urlPattern: '*' }] }, sessionId);
    const blocker = (async () => {
      for (;;) {
        const e = await nextEvent('Fetch.requestPaused', sessionId).catch(() => undefined);
        if (!e) return;
        await send('Fetch.failRequest', { requestId: e.params.requestId, errorReason: 'BlockedByClient' }, sessionId).catch(() => undefined);
      }
    })();
    await send('Page.enable', {}, sessionId);
    const { frameTree } = (await send('Page.getFrameTree', {}, sessionId)) as { frameTree: { frame: { id: string } } };
    const loaded = nextEvent('Page.loadEventFired', sessionId);
    await send('Page.setDocumentContent', { frameId: frameTree.frame.id, html }, sessionId);
    await Promise.race([loaded, new Promise((r) => setTimeout(r, 2000))]);
    const mm = (v: number) => v / 25.4;
    const { data } = (await send(
      'Page.printToPDF',
      {
        paperWidth: 8.27,
        paperHeight: 11.69,
        printBackground: true,
        displayHeaderFooter: true,
        headerTemplate: '<span></span>',
        footerTemplate: opts.footer,
        marginTop: mm(16),
        marginBottom: mm(18),
        marginLeft: mm(14),
        marginRight: mm(14),
        preferCSSPageSize: true,
      },
      sessionId,
    )) as { data: string };
    void blocker;
    return new Uint8Array(Buffer.from(data, 'base64'));
  } finally {
    clearTimeout(timer);
    await send('Browser.close').catch(() => undefined);
    if (child.exitCode === null) {
      await new Promise<void>((r) => {
        const k = setTimeout(() => {
          child.kill('SIGKILL');
          r();
        }, 3000);
        child.once('close', () => {
          clearTimeout(k);
          r();
        });
      });
    }
    rmSync(profile, { recursive: true, force: true });
  }
}

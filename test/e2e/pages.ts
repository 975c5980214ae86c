/**
 * What the browser tests share: Debian's Chromium as the probe launches it, page servers on
 * another origin (localhost, where the deeprnn servers listen on 127.0.0.1), and the README's
 * embedding snippet as a user copies it.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

const ROOT = new URL('../..', import.meta.url).pathname;

/** Headless, no sandbox (root), and none of the background connections this closed network refuses. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
export const launchChromium = (): Promise<Browser> => chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });

/** The headers that make a page cross-origin isolated (shared memory, threads). */
export const CROSS_ORIGIN_ISOLATED = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

/** A page's HTML, with extra response headers, or a handler of its own. */
export type PageSpec = string | { html: string; headers: Record<string, string> } | ((res: ServerResponse) => void);

/** A port nothing listens on now (the OS picks it): a random one could be wrangler's inspector (9229) or another test's. */
export const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = createTcpServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });

/** A page server on another origin; `pages` maps paths to pages. */
export function pageServer(pages: Record<string, PageSpec>): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const page = pages[req.url ?? '/'];
    if (typeof page === 'function') return page(res);
    if (page === undefined) return void res.writeHead(404).end();
    if (typeof page === 'string') return void res.writeHead(200, { 'content-type': 'text/html' }).end(page);
    res.writeHead(200, { 'content-type': 'text/html', ...page.headers }).end(page.html);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://localhost:${(server.address() as { port: number }).port}`, server })));
}

/** A page that imports `server`'s /static/deeprnn.js as `window.deeprnn`, then sets body[data-ready]. */
export const modulePage = (server: string): string =>
  `<!doctype html><script type="module">import * as deeprnn from '${server}/static/deeprnn.js'; window.deeprnn = deeprnn; document.body.dataset.ready = '1';</script><body></body>`;

/** The README's embedding snippet, as a user copies it. */
export async function readmeSnippet(): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Embed generation in a web page'));
  return /```html\n([\s\S]*?)```/.exec(section)![1];
}

/**
 * The pages: `/` (the demo page, for the model `?model=` names, with a picker of every served
 * model), `/docs` (Swagger UI) and `/favicon.ico`. Each page's scripts carry the response's nonce; nothing else
 * may run.
 */
import { faviconIco } from '../web/favicon.ts';
import { demoPage, docsPage } from '../web/page.ts';
import { resolveModel, routeGroup, type AppContext, type RouteContext } from '../http.ts';

const page = (c: AppContext, html: (nonce: string) => string) => {
  const nonce = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  c.header(
    'Content-Security-Policy',
    `default-src 'self'; script-src 'self' 'nonce-${nonce}' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'`,
  );
  return c.html(html(nonce));
};

export function pageRoutes(ctx: RouteContext) {
  const app = routeGroup();
  app.get('/', (c) => {
    const m = resolveModel(c, ctx.registry, c.req.query('model'));
    // Cross-origin isolated, so training in the page may use threads on shared memory (everything
    // the page loads is its own).
    c.header('Cross-Origin-Opener-Policy', 'same-origin');
    c.header('Cross-Origin-Embedder-Policy', 'require-corp');
    return page(c, (nonce) => demoPage(m.model, { hasPlot: m.files.plotSvg !== undefined, nonce, models: ctx.registry.names }));
  });
  app.get('/docs', (c) => page(c, (nonce) => docsPage(nonce)));
  const icon = faviconIco();
  app.get('/favicon.ico', (c) => c.body(icon.slice().buffer, 200, { 'Content-Type': 'image/x-icon', 'Cache-Control': 'public, max-age=86400' }));
  return app;
}

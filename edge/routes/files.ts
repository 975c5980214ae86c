/**
 * Files: /static/* (the browser module, its wasm, onnxruntime-web, Swagger UI — from the
 * runtime's assets) and /models/{name}/{file} (each served artifact itself, for pages that
 * generate in the browser: the same weights, so the same text as the server for the same seed;
 * its training plot and an ONNX rendition). Validators (ETag) let a second visit revalidate
 * instead of downloading the weights again.
 */
import { sha256Hex } from '../../shared/artifact.ts';
import { exportOnnx } from '../../shared/onnx.ts';
import { IMMUTABLE, isContentHashed, jsonError, mimeType, resolveModel, routeGroup, sendCached, SHORT, type RouteContext } from '../http.ts';

export function fileRoutes(ctx: RouteContext) {
  const app = routeGroup();

  app.get('/static/*', async (c) => {
    const path = c.req.path.slice('/static/'.length);
    const r = ctx.assets && path && !path.endsWith('/') ? await ctx.assets(path, c.req.raw) : null;
    if (!r) return jsonError(c, 404, 'not_found', `no static file ${path}`, null);
    const res = new Response(r.body, r); // headers of an asset response may be immutable
    res.headers.set('Content-Type', mimeType(path));
    res.headers.set('Cache-Control', isContentHashed(path) ? IMMUTABLE : SHORT);
    return res;
  });

  /** Per model: its ONNX rendition and model.json's ETag, made on first request. */
  const derived = new Map<string, { onnx?: { bytes: Uint8Array; etag: string }; jsonEtag?: string }>();
  app.get('/models/:name/:file', async (c) => {
    const { name, file } = c.req.param();
    const m = resolveModel(c, ctx.registry, name, 'name');
    const d = derived.get(m.name) ?? {};
    derived.set(m.name, d);
    switch (file) {
      case 'model.json':
        d.jsonEtag ??= `"${(await sha256Hex(new TextEncoder().encode(m.files.modelJson))).slice(0, 32)}"`;
        return sendCached(c, m.files.modelJson, 'application/json', d.jsonEtag);
      case 'weights.bin':
        return sendCached(c, m.files.weights, 'application/octet-stream', `"${m.weightsSha256}"`);
      case 'model.onnx':
        if (!d.onnx) {
          const bytes = exportOnnx(m.model);
          d.onnx = { bytes, etag: `"${(await sha256Hex(bytes)).slice(0, 32)}"` };
        }
        return sendCached(c, d.onnx.bytes, 'application/octet-stream', d.onnx.etag);
      case 'perplexity.svg':
        if (m.files.plotSvg !== undefined) return sendCached(c, m.files.plotSvg, 'image/svg+xml', `"plot-${m.weightsSha256.slice(0, 16)}"`);
    }
    return jsonError(c, 404, 'not_found', `model ${m.name} has no file ${file}`, null);
  });

  return app;
}

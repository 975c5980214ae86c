/**
 * Responses held against /openapi.json by an independent validator (Ajv, JSON Schema 2020-12):
 * a documented operation must answer a documented status, in a documented media type, with a
 * body its schema accepts — each Server-Sent Event's data too. Node only (Ajv compiles schemas
 * to functions, which workerd does not allow).
 */
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020.js';
import type { Fetch } from './api-cases.ts';

interface Operation {
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
  requestBody?: { content: Record<string, { schema: unknown; example?: unknown }> };
}
export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
}

const pointer = (...parts: string[]) => parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

/** Paths the API's document leaves out on purpose: the pages, static files and weights, the document itself, the operator's health and metrics. */
const OUTSIDE_THE_DOCUMENT = [/^\/$/, /^\/docs$/, /^\/favicon\.ico$/, /^\/static\//, /^\/models\//, /^\/healthz$/, /^\/metrics$/, /^\/openapi\.json$/];

export class Conformance {
  private readonly ajv: InstanceType<typeof Ajv2020>;
  private readonly compiled = new Map<string, ValidateFunction>();
  /** Problems found, one line each. */
  readonly problems: string[] = [];
  /** Responses checked, by operation and status. */
  readonly seen = new Set<string>();

  constructor(readonly doc: OpenApiDocument) {
    this.ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: false });
    this.ajv.addSchema(doc as object, 'doc');
  }

  /** The compiled schema at a JSON pointer of the document. */
  validator(path: string): ValidateFunction {
    let v = this.compiled.get(path);
    if (!v) {
      v = this.ajv.compile({ $ref: `doc#/${path}` });
      this.compiled.set(path, v);
    }
    return v;
  }

  /** The request body schema of an operation. */
  requestValidator(route: string, method: string): ValidateFunction {
    return this.validator(pointer('paths', route, method, 'requestBody', 'content', 'application/json', 'schema'));
  }

  /** The documented operation a request path is, if any (`/v1/models/{id}` for `/v1/models/x`). */
  private operation(path: string, method: string): { route: string; op: Operation } | null {
    for (const [route, ops] of Object.entries(this.doc.paths)) {
      const re = new RegExp(`^${route.replace(/\{[^}]+\}/g, '[^/]+')}$`);
      if (re.test(path) && ops[method]) return { route, op: ops[method] };
    }
    return null;
  }

  /** Check one response (read from a clone) against the document. */
  async check(path: string, method: string, res: Response): Promise<void> {
    const url = new URL(path, 'https://edge.test');
    const found = this.operation(url.pathname, method.toLowerCase());
    if (!found) {
      // Outside the operations the document lists, the only answers are: the pages, files and the
      // operator's endpoints (outside the API by design), a CORS preflight, 405 with Allow for a
      // documented path's other methods, and 404 in the error shape. Anything else is a gap.
      const p = url.pathname;
      const m = method.toUpperCase();
      const documentedPath = Object.keys(this.doc.paths).some((route) => new RegExp(`^${route.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(p));
      const fine =
        OUTSIDE_THE_DOCUMENT.some((re) => re.test(p)) ||
        (m === 'OPTIONS' && res.status === 204) ||
        (documentedPath && res.status === 405 && res.headers.has('allow')) ||
        (!documentedPath && res.status === 404 && /"code":"not_found"/.test(await res.clone().text()));
      if (!fine) this.problems.push(`${m} ${p} → ${res.status}: not documented`);
      return;
    }
    const { route, op } = found;
    const where = `${method.toUpperCase()} ${route} → ${res.status}`;
    this.seen.add(where);
    const documented = op.responses[String(res.status)];
    if (!documented) return void this.problems.push(`${where}: status not documented`);
    if (res.status === 204 || !documented.content) return;
    const type = (res.headers.get('content-type') ?? '').split(';')[0].trim();
    if (!documented.content[type])
      return void this.problems.push(`${where}: content type ${type} not documented (${Object.keys(documented.content).join(', ')})`);
    const at = (suffix: string[]) => pointer('paths', route, method.toLowerCase(), 'responses', String(res.status), 'content', type, 'schema', ...suffix);
    const text = await res.clone().text();
    if (type === 'application/json') {
      const v = this.validator(at([]));
      if (!v(JSON.parse(text))) this.problems.push(`${where}: ${this.ajv.errorsText(v.errors)} in ${text.slice(0, 200)}`);
      return;
    }
    if (type === 'text/event-stream') {
      const v = this.validator(at([]));
      for (const block of text.split('\n\n').filter((b) => b.trim())) {
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const raw = /^data: (.*)$/m.exec(block)?.[1] ?? '';
        const data = raw === '[DONE]' ? raw : JSON.parse(raw);
        if (!v({ ...(event !== undefined ? { event } : {}), data }))
          this.problems.push(`${where} (event ${event ?? 'message'}): ${this.ajv.errorsText(v.errors)} in ${raw.slice(0, 200)}`);
      }
    }
  }

  /** A fetch that checks every response it returns. */
  wrap(fetch: Fetch): Fetch {
    return async (path, init) => {
      const res = await fetch(path, init);
      await this.check(path, init?.method ?? 'GET', res);
      return res;
    };
  }
}

/**
 * Request bodies generated from /openapi.json by an outside generator (json-schema-faker, which
 * reads if/then, anyOf and $ref as the document writes them), as Schemathesis does: each body the
 * document accepts (Ajv) must be answered 200 (or 413 past the byte limit its 413 states), each it
 * refuses 400, 404 or 413 — never a 2xx,
 * never a 5xx. A few fields hold what no schema can check (a signed continuation, a constraint's
 * regex, grammar or schema, whose match must fit the model and numChars): a body with one may
 * also be a 400 that names that field.
 */
import { createGenerator } from 'json-schema-faker';
import { beforeAll, describe, expect, it } from 'vitest';
import type { createApp } from '../../edge/app.ts';
import { CONSTRAINT_FIELDS } from '../../edge/openai.ts';
import { GENERATE_BODY_BYTES, SERVICE_LIMITS } from '../../shared/contract.ts';
import { Conformance, type OpenApiDocument } from './openapi-conformance.ts';
import { twoModelApp } from './samples.ts';

/** Each operation's byte limit, as its 413 says. */
const BODY_BYTES: Record<string, number> = {
  '/v1/generate': GENERATE_BODY_BYTES,
  '/v1/score': SERVICE_LIMITS.maxScoreBodyBytes,
  '/v1/completions': SERVICE_LIMITS.maxBodyBytes,
};
/** Fields whose values a schema cannot fully state. */
const BEYOND_A_SCHEMA: readonly string[] = ['continuation', 'constraint', ...CONSTRAINT_FIELDS];
/** Bodies per operation: the generator keeps few of generate's rules between fields, so it needs more draws to reach valid ones. */
const BODIES: Record<string, number> = { '/v1/generate': 600, '/v1/score': 150, '/v1/completions': 400 };

let app: ReturnType<typeof createApp>;
let raw: OpenApiDocument;
let doc: Conformance;
beforeAll(async () => {
  app = await twoModelApp();
  raw = (await (await app.request('/openapi.json')).json()) as OpenApiDocument;
  doc = new Conformance(raw);
}, 60_000);

describe('bodies generated from the document by json-schema-faker', () => {
  for (const route of ['/v1/generate', '/v1/score', '/v1/completions']) {
    it(`POST ${route}: the document and the server agree on every body`, async () => {
      const op = raw.paths[route].post;
      const schema = { ...(op.requestBody!.content['application/json'].schema as object), components: raw.components };
      const generator = createGenerator({ seed: 7 });
      const valid = doc.requestValidator(route, 'post');
      const disagreements: string[] = [];
      let accepted = 0;
      let documented = 0;
      for (let i = 0; i < BODIES[route]; i++) {
        const body = (await generator.generate(schema)) as Record<string, unknown>;
        const ok = valid(body);
        const r = await app.request(route, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        const answer = r.headers.get('content-type')?.includes('json')
          ? ((await r.json()) as { error?: { param: string | null; message: string } })
          : (await r.text(), {});
        const beyond = BEYOND_A_SCHEMA.filter((f) => body[f] !== undefined && body[f] !== null);
        if (ok) documented++;
        if (ok && r.status === 200) accepted++;
        const bytes = new TextEncoder().encode(JSON.stringify(body)).length;
        const fine = ok
          ? r.status === 200 || (r.status === 400 && beyond.includes(answer.error?.param ?? '')) || (r.status === 413 && bytes > BODY_BYTES[route])
          : r.status === 400 || r.status === 404 || r.status === 413;
        if (!fine && disagreements.length < 5)
          disagreements.push(`${ok ? 'valid' : 'invalid'} → ${r.status} ${answer.error?.message ?? ''}: ${JSON.stringify(body).slice(0, 300)}`);
      }
      expect(disagreements).toEqual([]);
      // Not vacuous: the generator reaches bodies the document accepts, and the server takes them.
      expect(documented).toBeGreaterThanOrEqual(8);
      expect(accepted).toBeGreaterThanOrEqual(4);
    }, 120_000);
  }
});

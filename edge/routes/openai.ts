/**
 * The OpenAI-compatible API, beside ours: POST /v1/completions (what the official clients'
 * `completions.create` sends), mapped onto our contract by edge/openai.ts; GET /v1/models is
 * ours, already in OpenAI's list shape (routes/api.ts). /v1/chat/completions is a 404 that
 * says why: a character model continues a text; it has no notion of chat turns.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { errorBody, errorType, type GeneratedToken, type GenerateResult } from '../../shared/contract.ts';
import { DeeprnnError } from '../../shared/errors.ts';
import type { ValidatedGeneration } from '../../shared/decode/validate.ts';
import { clientGone, jsonBody, jsonError, readJson, resolveModel, routeGroup, runGeneration, type RouteContext, type RouteGeneration } from '../http.ts';
import { completionLogprobs, countTokens, finishReason, planCompletion, StopHoldback, stopLength, validateChoice, type CompletionPlan } from '../openai.ts';
import { ErrorSchema } from '../schemas.ts';
import { streamEvents } from '../sse.ts';
import { completionRequestJsonSchema, requestExamples, servedFacts } from '../openapi.ts';
import { errorResponses, GET_ERRORS, POST_ERRORS } from './api.ts';

const CHAT_MESSAGE =
  'this server serves character-level models, which continue a text and have no notion of chat turns or roles: use POST /v1/completions with the text to continue as the prompt';

const CompletionSchema = z
  .object({
    id: z.string(),
    object: z.literal('text_completion'),
    created: z.number().int(),
    model: z.string(),
    system_fingerprint: z.string(),
    choices: z.array(
      z.object({
        text: z.string(),
        index: z.number().int(),
        logprobs: z.unknown().nullable(),
        finish_reason: z.enum(['length', 'stop']).nullable(),
        continuation: z.string().optional().openapi({
          description:
            'deeprnn\'s extension: when the choice ended before a stop (finish_reason length, which includes the server\'s CPU budget), the token that goes on from here with POST /v1/generate {"continuation": …}.',
        }),
      }),
    ),
    usage: z.object({ prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int() }).optional(),
  })
  .openapi('Completion');

/** A finished choice: OpenAI's text (the stop sequence left out) and logprobs. */
function choiceOf(plan: CompletionPlan, g: ValidatedGeneration, r: GenerateResult, index: number) {
  const cut = r.finishReason === 'stop' ? stopLength(r.generated, g.stop) : 0;
  const offset = plan.echo ? g.prefix.length : 0;
  const tokens = r.logprobs ?? [];
  return {
    text: (plan.echo ? g.prefix : '') + r.generated.slice(0, r.generated.length - cut),
    index,
    logprobs: plan.logprobs === null ? null : completionLogprobs(tokens.slice(0, tokens.length - countTokens(tokens, cut)), plan.logprobs, offset),
    finish_reason: finishReason(r.finishReason),
    ...(r.continuation !== undefined ? { continuation: r.continuation } : {}),
  };
}

export function openaiRoutes(ctx: RouteContext) {
  const { registry } = ctx;
  const app = routeGroup();
  const facts = servedFacts(registry);
  app.openAPIRegistry.registerComponent('schemas', 'CompletionRequest', completionRequestJsonSchema(facts));
  app.openAPIRegistry.register('Completion', CompletionSchema);
  app.openAPIRegistry.registerPath(
    createRoute({
      method: 'post',
      path: '/v1/completions',
      summary:
        "OpenAI's completions API (a token is a character), on the same contract as /v1/generate: the same bounds, and the same text for the same seed and settings",
      request: {
        body: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/CompletionRequest' }, example: requestExamples(facts).completion } },
        },
      },
      responses: {
        200: {
          description:
            "A completion; with stream: true, Server-Sent Events: `data: {chunk}` per group of characters (a Completion with one choice and finish_reason null, then the choice's last chunk with its finish_reason), with stream_options.include_usage a chunk with no choices and the usage, then `data: [DONE]`",
          content: {
            'application/json': { schema: CompletionSchema },
            'text/event-stream': {
              schema: {
                type: 'object',
                description: 'One Server-Sent Event: its JSON `data`, or the literal [DONE].',
                properties: { data: { anyOf: [{ $ref: '#/components/schemas/Completion' }, { $ref: '#/components/schemas/Error' }, { const: '[DONE]' }] } },
                required: ['data'],
              },
            },
          },
        },
        ...errorResponses(...POST_ERRORS),
      },
    }),
  );
  app.openAPIRegistry.registerPath(
    createRoute({
      method: 'post',
      path: '/v1/chat/completions',
      summary: 'Not served: character models have no chat turns (404 pointing to /v1/completions)',
      responses: { ...errorResponses(...GET_ERRORS), 404: { description: CHAT_MESSAGE, content: { 'application/json': { schema: ErrorSchema } } } },
    }),
  );

  jsonBody(app, '/v1/completions');
  app.post('/v1/completions', async (c) => {
    const plan = planCompletion(await readJson(c));
    const served = resolveModel(c, registry, plan.model);
    const gs = plan.requests.map((q, i) => validateChoice(served.model, q, Math.floor(i / plan.n), plan.prompts.length, ctx.generation, plan.constraintField));
    const abort = new AbortController();
    clientGone(c)?.addEventListener('abort', () => abort.abort(), { once: true });
    // Every choice is admitted, or none: a refusal (503) cancels the ones already started.
    const gens: RouteGeneration[] = [];
    try {
      for (const g of gs) gens.push(runGeneration(ctx, c, served, g, { stream: plan.stream, signal: abort.signal }));
    } catch (e) {
      abort.abort();
      throw e;
    }
    const head = {
      id: `cmpl-${crypto.randomUUID().replaceAll('-', '')}`,
      object: 'text_completion' as const,
      created: Math.floor(Date.now() / 1000),
      model: served.name,
      system_fingerprint: `deeprnn-${served.weightsSha256.slice(0, 16)}`,
    };
    const promptTokens = plan.prompts.reduce((n, _, i) => n + [...gs[i * plan.n].prefix].length, 0);
    const usage = (results: GenerateResult[]) => {
      const completion = results.reduce((n, r) => n + r.numChars, 0);
      return { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion };
    };

    if (!plan.stream) {
      let results: GenerateResult[];
      try {
        results = await Promise.all(gens.map((g) => g.result));
      } catch (e) {
        abort.abort();
        throw e;
      }
      return c.json({ ...head, choices: results.map((r, i) => choiceOf(plan, gs[i], r, i)), usage: usage(results) }, 200);
    }

    return streamEvents(c, abort, async (stream) => {
      const send = (data: unknown) => stream.send(data);
      const chunk = (index: number, tokens: readonly GeneratedToken[], offset: number, finish: 'length' | 'stop' | null, prefixText = '') => ({
        ...head,
        choices: [
          {
            text: prefixText + tokens.map((t) => t.text).join(''),
            index,
            logprobs: plan.logprobs === null ? null : completionLogprobs(tokens, plan.logprobs, offset),
            finish_reason: finish,
          },
        ],
      });
      const results: GenerateResult[] = [];
      try {
        await Promise.all(
          gens.map(async (gen, index) => {
            const hold = new StopHoldback(gs[index].stop);
            let offset = 0;
            if (plan.echo) {
              await send(chunk(index, [], 0, null, gs[index].prefix));
              offset = gs[index].prefix.length;
            }
            for await (const tokens of gen.tokens()) {
              if (stream.aborted) return;
              gen.firstChar();
              const out = hold.push(tokens);
              if (out.length) await send(chunk(index, out, offset, null));
              offset += out.reduce((n, t) => n + t.text.length, 0);
            }
            const r = await gen.result;
            results[index] = r;
            const last = chunk(index, hold.finish(r.finishReason), offset, finishReason(r.finishReason));
            await send(r.continuation === undefined ? last : { ...last, choices: last.choices.map((ch) => ({ ...ch, continuation: r.continuation })) });
          }),
        );
      } catch (e) {
        abort.abort();
        if (!stream.aborted) {
          const code = e instanceof DeeprnnError ? e.code : 'internal';
          await send(errorBody(code, (e as Error).message, { type: errorType(500), param: null }));
        }
        return;
      }
      if (plan.includeUsage) await send({ ...head, choices: [], usage: usage(results) });
      await stream.send('[DONE]');
    });
  });

  app.post('/v1/chat/completions', (c) => jsonError(c, 404, 'not_found', CHAT_MESSAGE, null));
  return app;
}

/**
 * The API's response and event shapes for OpenAPI, checked by the compiler against the
 * contract's types (shared/contract.ts). Request schemas are JSON Schema written from the
 * contract's field tables and the served models (edge/openapi.ts); requests are validated by the
 * contract's validator, so the CLI, the browser and the HTTP API say the same thing.
 */
import { z } from '@hono/zod-openapi';
import {
  FINISH_REASONS,
  type BeamResult,
  type ErrorBody,
  type FinishReason,
  type GeneratedToken,
  type GenerateResult,
  type ScoreResult,
  type StartEvent,
  type TokenLogprob,
} from '../shared/contract.ts';
import { CELLS } from '../shared/model.ts';
import { PREPROCESSINGS } from '../shared/text.ts';

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'invalid_request' }),
      message: z.string().openapi({ example: 'numChars must be a whole number in [1, 2000], got 5000' }),
      type: z.string().optional().openapi({
        description: "OpenAI's error type for the status (invalid_request_error, authentication_error, rate_limit_error, server_error)",
        example: 'invalid_request_error',
      }),
      param: z.string().nullable().optional().openapi({ description: 'The request field at fault, when there is one', example: 'numChars' }),
    }),
  })
  .openapi('Error') satisfies z.ZodType<ErrorBody>;

const TokenLogprobSchema = z.object({ text: z.string(), logprob: z.number() }).openapi('TokenLogprob') satisfies z.ZodType<TokenLogprob>;

export const GeneratedTokenSchema = z
  .object({
    text: z.string().openapi({ description: 'One character.' }),
    logprob: z.number().optional().openapi({ description: 'Its natural-log probability (with logprobs > 0).' }),
    top: z.array(TokenLogprobSchema).optional().openapi({ description: 'The likeliest characters at this position, most likely first (with logprobs > 0).' }),
  })
  .openapi('GeneratedToken') satisfies z.ZodType<GeneratedToken>;

const FinishReasonSchema = z.enum(FINISH_REASONS as [FinishReason, ...FinishReason[]]).openapi({
  description:
    "length: numChars reached; stop: a stop sequence was generated; deadline: the server ended it at its time limit; budget: the server's CPU budget per request was spent (go on with the continuation).",
});

const BeamSchema = z
  .object({ generated: z.string(), text: z.string(), score: z.number(), logprob: z.number(), finishReason: FinishReasonSchema })
  .openapi('Beam') satisfies z.ZodType<BeamResult, unknown>;

export const GenerateResponseSchema = z
  .object({
    model: z.string(),
    prefix: z.string().openapi({ description: 'The prefix as the model read it (normalised).' }),
    text: z.string().openapi({ description: "prefix + generated, as d2l's predict_ch8 returns." }),
    generated: z.string(),
    numChars: z.number().int().openapi({ description: 'Characters generated.' }),
    seed: z.number().int(),
    finishReason: FinishReasonSchema,
    author: z.string().optional(),
    logprobs: z.array(GeneratedTokenSchema).optional(),
    beams: z.array(BeamSchema).optional().openapi({ description: 'With beamWidth > 1: the best numReturn beams, best first.' }),
    continuation: z.string().optional().openapi({
      description:
        'When the generation ended before a stop sequence (length, deadline, budget; not beam search): send it back as `continuation` to go on exactly where it stopped.',
    }),
    timings: z.object({
      totalMs: z.number().openapi({ description: 'Wall time from admission (Workers freeze clocks during CPU work, so it reads less there).' }),
    }),
  })
  .openapi('GenerateResponse') satisfies z.ZodType<GenerateResult, unknown>;

export const StartEventSchema = z
  .object({ model: z.string(), prefix: z.string(), seed: z.number().int(), numChars: z.number().int(), author: z.string().optional() })
  .openapi('StartEvent') satisfies z.ZodType<StartEvent>;

export const ScoreResponseSchema = z
  .object({
    model: z.string(),
    text: z.string().openapi({ description: 'The text as the model read it (normalised).' }),
    chars: z.array(
      z.object({
        text: z.string(),
        logprob: z.number().nullable().openapi({ description: 'ln P(character | the ones before); null for the first character, which has no context.' }),
        unknown: z.literal(true).optional().openapi({ description: 'Not in the vocabulary: read as <unk>.' }),
      }),
    ),
    predicted: z.number().int(),
    logprob: z.number(),
    perplexity: z.number(),
    bitsPerChar: z.number(),
    unknown: z.number().int().openapi({ description: 'Characters read as <unk>.' }),
    author: z.string().optional(),
  })
  .openapi('ScoreResponse') satisfies z.ZodType<ScoreResult, unknown>;

export const ModelInfoSchema = z
  .object({
    id: z.string().openapi({ description: "The model's name: what requests pass as `model`." }),
    object: z.literal('model'),
    created: z.number().int().openapi({ description: 'When it was trained (Unix seconds; 0 when not recorded).' }),
    owned_by: z.string(),
    name: z.string(),
    architecture: z.object({
      cell: z.enum(CELLS as [string, ...string[]]),
      numLayers: z.number().int(),
      hiddenSize: z.number().int(),
      vocabSize: z.number().int(),
      input: z.literal('one-hot'),
    }),
    vocabulary: z.object({
      tokens: z.array(z.string()),
      unkIndex: z.number().int(),
      preprocessing: z.enum(PREPROCESSINGS as [string, ...string[]]),
      authors: z.array(z.string()),
    }),
    weights: z.object({ dtype: z.string(), sha256: z.string() }),
    samplePrefix: z.string(),
    training: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi('ModelInfo');

export const ModelsResponseSchema = z
  .object({ object: z.literal('list'), data: z.array(ModelInfoSchema).openapi({ description: 'The served models; the first is the default.' }) })
  .openapi('ModelList');
export type ModelsResponse = z.infer<typeof ModelsResponseSchema>;

/**
 * The API's shapes, once: the same zod schemas validate requests and generate /openapi.json.
 * Unknown request fields are rejected (a typo such as "temprature" must not pass silently).
 */
import { z } from '@hono/zod-openapi';

/** Service bounds: tighter than the library's, to keep a request inside a Workers CPU budget. */
export const LIMITS = { maxNumChars: 2000, maxPrefixChars: 1000, maxBodyBytes: 16 * 1024 } as const;

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'invalid_request' }),
      message: z.string().openapi({ example: 'numChars: Too big: expected number to be <=2000' }),
    }),
  })
  .openapi('Error');

export const GenerateRequestSchema = z
  .strictObject({
    prefix: z
      .string()
      .min(1)
      .refine((s) => [...s].length <= LIMITS.maxPrefixChars, `at most ${LIMITS.maxPrefixChars} characters`)
      .openapi({ description: "Text the model warms up on; put through the model's preprocessing (for d2l models: letters only, lower-case).", example: 'time traveller' }),
    numChars: z.number().int().min(1).max(LIMITS.maxNumChars).openapi({ description: 'Characters to generate.', example: 50 }),
    temperature: z.number().min(0).max(100).optional().openapi({ description: '0 (default) is greedy, as d2l; higher samples more freely.', example: 0.8 }),
    topK: z.number().int().min(1).optional().openapi({ description: 'Sample only among the k most likely characters.' }),
    topP: z.number().gt(0).max(1).optional().openapi({ description: 'Sample only from the smallest set of characters whose probability reaches p.' }),
    seed: z.number().int().min(0).max(4294967295).optional().openapi({ description: 'Same seed, same text (in Node, Workers and browsers). Drawn at random when absent, and returned.' }),
    stream: z.boolean().optional().openapi({ description: 'Server-Sent Events instead of one JSON response (also chosen by Accept: text/event-stream).' }),
  })
  .openapi('GenerateRequest');

export const TimingsSchema = z.object({
  totalMs: z.number().openapi({ description: 'Wall time of the generation (Workers freeze clocks during CPU work, so it reads 0 there).' }),
});

export const GenerateResponseSchema = z
  .object({
    model: z.string(),
    prefix: z.string().openapi({ description: 'The prefix as the model read it (normalised).' }),
    text: z.string().openapi({ description: 'prefix + generated, as d2l\'s predict_ch8 returns.' }),
    generated: z.string(),
    numChars: z.number().int(),
    seed: z.number().int(),
    finishReason: z.literal('length'),
    timings: TimingsSchema,
  })
  .openapi('GenerateResponse');

export const ModelInfoSchema = z
  .object({
    name: z.string(),
    architecture: z.object({ cell: z.enum(['lstm', 'gru', 'rnn']), numLayers: z.number().int(), hiddenSize: z.number().int(), vocabSize: z.number().int(), input: z.literal('one-hot') }),
    vocabulary: z.object({ tokens: z.array(z.string()), unkIndex: z.number().int(), preprocessing: z.enum(['d2l', 'raw']) }),
    training: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi('ModelInfo');

export const ModelsResponseSchema = z.object({ models: z.array(ModelInfoSchema) }).openapi('ModelList');

export type GenerateRequest = z.infer<typeof GenerateRequestSchema>;

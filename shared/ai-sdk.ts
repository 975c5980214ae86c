/**
 * deeprnn as an AI SDK provider (`import { createDeeprnn } from 'deeprnn/ai-sdk'`): a language
 * model for `generateText` / `streamText` that sends the prompt **raw** — the text of its messages
 * joined as they are, with no role labels — so the text for a seed and settings is /v1/generate's.
 * (The SDK's generic OpenAI-compatible provider wraps a completion prompt as "user:\n…\n\nassistant:\n"
 * and stops at "\nuser:": a character model then continues a chat transcript, not the text.)
 *
 *   const deeprnn = createDeeprnn({ baseURL: 'http://localhost:8787' });   // a deeprnn server
 *   const deeprnn = createDeeprnn({ model: await loadModel(url) });         // no server: in process
 *   const { text } = await generateText({ model: deeprnn(), prompt: 'The Time Traveller', maxOutputTokens: 100, temperature: 0.8, seed: 7 });
 *
 * It implements the SDK's language-model specification v3: AI SDK 6 (the last for Node 20, our
 * floor) takes it, and AI SDK 7 takes it as it takes v3 models. A token is a character:
 * `maxOutputTokens` is numChars, usage counts characters. deeprnn's own settings go in
 * `providerOptions.deeprnn` ({ logprobs, author, continuation, constraint }); `responseFormat` json
 * (generateObject, Output.object) constrains the text to its schema, exactly; what it returns beyond text —
 * seed, our finish reason, the continuation token, log-probabilities — is in
 * `providerMetadata.deeprnn`. A server's CPU-budget slices are followed, as one text.
 */
import type {
  LanguageModelV3,
  LanguageModelV3CallOptions,
  LanguageModelV3FinishReason,
  LanguageModelV3GenerateResult,
  LanguageModelV3Prompt,
  LanguageModelV3StreamPart,
  LanguageModelV3StreamResult,
  LanguageModelV3Usage,
  SharedV3Warning,
} from '@ai-sdk/provider';
import { DEFAULT_NUM_CHARS, type GeneratedToken, type GenerateRequest, type GenerateResult } from './contract.ts';
import { OptionError } from './errors.ts';
import { stream, type LoadedModel } from './index.ts';
import { generateFromServer } from './remote.ts';

/** A model loaded by the library (`loadModel` from 'deeprnn'). */
export type InProcessModel = Pick<LoadedModel, 'model' | 'kernelModel'>;

export interface DeeprnnProviderSettings {
  /** A deeprnn server (`npm start`, a Worker): its origin, e.g. http://localhost:8787. */
  baseURL?: string;
  /** Sent as `Authorization: Bearer …` (servers that set API_KEYS). */
  apiKey?: string;
  headers?: Record<string, string>;
  fetch?: typeof fetch;
  /** No server: generate with this loaded model, in this process (Node, Workers, a page). */
  model?: InProcessModel;
}

/** `providerOptions.deeprnn`: the contract's fields the SDK has no name for. */
export interface DeeprnnCallOptions {
  /** Each character's log-probability and this many alternatives (providerMetadata.deeprnn.logprobs). */
  logprobs?: number;
  /** Write as this author (models trained with author tags). */
  author?: string;
  /** Go on from a result's providerMetadata.deeprnn.continuation (the prompt, if any, is read first). */
  continuation?: string;
  /** The shape the text must take: { regex } | { choice } | { jsonSchema } | { grammar } (docs/constraints.md). `responseFormat` json sets jsonSchema. */
  constraint?: GenerateRequest['constraint'];
}

export interface DeeprnnProvider {
  /** The served model of that name (a server's first when absent; the loaded model in process). */
  (modelId?: string): LanguageModelV3;
  languageModel(modelId?: string): LanguageModelV3;
}

type JsonValue = null | string | number | boolean | JsonValue[] | { [k: string]: JsonValue | undefined };

/** The prompt as one text: the text of every message, in order, as written (no roles, no separators). */
export function promptText(prompt: LanguageModelV3Prompt, warnings: SharedV3Warning[]): string {
  let text = '';
  for (const message of prompt) {
    if (message.role === 'system') {
      text += message.content;
      continue;
    }
    for (const part of message.content) {
      if (part.type === 'text') text += part.text;
      else
        warnings.push({
          type: 'unsupported',
          feature: `${part.type} parts in the prompt`,
          details: 'a character model reads text only; the part was left out',
        });
    }
  }
  return text;
}

/** The SDK's call options → a generation request of the contract, and what was left out. */
export function requestOf(
  options: LanguageModelV3CallOptions,
  modelId: string | undefined,
): { request: Partial<GenerateRequest>; warnings: SharedV3Warning[] } {
  const warnings: SharedV3Warning[] = [];
  const own = (options.providerOptions?.deeprnn ?? {}) as DeeprnnCallOptions;
  for (const key of Object.keys(own))
    if (!['logprobs', 'author', 'continuation', 'constraint'].includes(key))
      throw new OptionError(`providerOptions.deeprnn.${key} is not an option (options: logprobs, author, continuation, constraint)`);
  const prompt = promptText(options.prompt, warnings);
  // The token goes back in providerMetadata.deeprnn.continuation, whatever ended the text.
  const request: Partial<GenerateRequest> = { returnContinuation: true };
  if (modelId !== undefined) request.model = modelId;
  if (own.continuation !== undefined) {
    request.continuation = own.continuation;
    if (prompt.length > 0) request.prefix = prompt;
    if (options.maxOutputTokens !== undefined) request.numChars = options.maxOutputTokens;
  } else {
    request.prefix = prompt;
    request.numChars = options.maxOutputTokens ?? DEFAULT_NUM_CHARS;
    if (options.temperature !== undefined) request.temperature = options.temperature;
    if (options.topP !== undefined) request.topP = options.topP;
    if (options.topK !== undefined) request.topK = options.topK;
    if (options.seed !== undefined) request.seed = options.seed;
    if (options.stopSequences?.length) request.stop = options.stopSequences;
    if (own.logprobs !== undefined) request.logprobs = own.logprobs;
    if (own.author !== undefined) request.author = own.author;
  }
  for (const [feature, value] of [
    ['presencePenalty', options.presencePenalty],
    ['frequencyPenalty', options.frequencyPenalty],
  ] as const) {
    if (value !== undefined && value !== 0) warnings.push({ type: 'unsupported', feature, details: 'use temperature, topP, topK or stopSequences' });
  }
  if (options.tools?.length) warnings.push({ type: 'unsupported', feature: 'tools', details: 'a character model has no tool calls' });
  // generateObject / Output.object: JSON valid under the schema, exactly (no schema: any object).
  const json = options.responseFormat?.type === 'json' ? { jsonSchema: options.responseFormat.schema ?? { type: 'object' } } : undefined;
  if (json && own.constraint) throw new OptionError('providerOptions.deeprnn.constraint cannot go with responseFormat json: give one constraint');
  const constraint = json ?? own.constraint;
  if (constraint) request.constraint = constraint;
  return { request, warnings };
}

/** The SDK's finish reason: a stop sequence is `stop`; numChars, a deadline or a CPU budget is `length`. */
export const finishReasonOf = (r: GenerateResult['finishReason']): LanguageModelV3FinishReason => ({ unified: r === 'stop' ? 'stop' : 'length', raw: r });

function usageOf(prefix: string, r: GenerateResult): LanguageModelV3Usage {
  const input = [...prefix].length;
  return {
    inputTokens: { total: input, noCache: input, cacheRead: undefined, cacheWrite: undefined },
    outputTokens: { total: r.numChars, text: r.numChars, reasoning: undefined },
  };
}

function metadataOf(r: GenerateResult): { deeprnn: { [k: string]: JsonValue | undefined } } {
  const m: { [k: string]: JsonValue | undefined } = { model: r.model, seed: r.seed, finishReason: r.finishReason };
  if (r.continuation !== undefined) m.continuation = r.continuation;
  if (r.logprobs !== undefined)
    m.logprobs = r.logprobs.map(
      (t): JsonValue => ({
        text: t.text,
        ...(t.logprob !== undefined ? { logprob: t.logprob } : {}),
        ...(t.top ? { top: t.top.map((a) => ({ text: a.text, logprob: a.logprob })) } : {}),
      }),
    );
  return { deeprnn: m };
}

/** How one request is run: against a server, or on a loaded model. */
interface Backend {
  run(request: Partial<GenerateRequest>, signal: AbortSignal | undefined, onTokens: (tokens: GeneratedToken[]) => void): Promise<GenerateResult>;
}

function serverBackend(s: DeeprnnProviderSettings & { baseURL: string }): Backend {
  const endpoint = `${s.baseURL.replace(/\/+$/, '').replace(/\/v1$/, '')}/v1/generate`;
  const headers = { ...s.headers, ...(s.apiKey ? { authorization: `Bearer ${s.apiKey}` } : {}) };
  return { run: (request, signal, onTokens) => generateFromServer(endpoint, request, { fetch: s.fetch, signal, headers, onTokens }) };
}

function inProcessBackend(m: InProcessModel): Backend {
  return {
    async run(request, signal, onTokens) {
      if (request.model !== undefined && request.model !== m.model.name)
        throw new OptionError(`model must be ${m.model.name} (the model this provider was given), got ${JSON.stringify(request.model)}`);
      const { model: _, ...rest } = request;
      // The library's stream; a stop or a failing consumer is thrown into it, so its rows go back to the pool.
      const tokens = stream(m, rest);
      let next = await tokens.next();
      while (!next.done) {
        try {
          if (signal?.aborted) throw new Error('stopped');
          onTokens([next.value]);
        } catch (e) {
          await tokens.throw(e);
        }
        next = await tokens.next();
      }
      return next.value;
    },
  };
}

class DeeprnnLanguageModel implements LanguageModelV3 {
  readonly specificationVersion = 'v3' as const;
  readonly provider = 'deeprnn';
  readonly supportedUrls = {};

  constructor(
    readonly modelId: string,
    private readonly requestModel: string | undefined,
    private readonly backend: Backend,
  ) {}

  async doGenerate(options: LanguageModelV3CallOptions): Promise<LanguageModelV3GenerateResult> {
    const { request, warnings } = requestOf(options, this.requestModel);
    const r = await this.backend.run(request, options.abortSignal, () => {});
    return {
      content: [{ type: 'text', text: r.generated }],
      finishReason: finishReasonOf(r.finishReason),
      usage: usageOf(r.prefix, r),
      providerMetadata: metadataOf(r),
      request: { body: request },
      response: { modelId: r.model, timestamp: new Date() },
      warnings,
    };
  }

  async doStream(options: LanguageModelV3CallOptions): Promise<LanguageModelV3StreamResult> {
    const { request, warnings } = requestOf(options, this.requestModel);
    const backend = this.backend;
    const stream = new ReadableStream<LanguageModelV3StreamPart>({
      async start(controller) {
        controller.enqueue({ type: 'stream-start', warnings });
        let open = false;
        try {
          const r = await backend.run(request, options.abortSignal, (tokens) => {
            if (!open) {
              controller.enqueue({ type: 'text-start', id: '0' });
              open = true;
            }
            controller.enqueue({ type: 'text-delta', id: '0', delta: tokens.map((t) => t.text).join('') });
          });
          controller.enqueue({ type: 'response-metadata', modelId: r.model, timestamp: new Date() });
          if (open) controller.enqueue({ type: 'text-end', id: '0' });
          controller.enqueue({ type: 'finish', finishReason: finishReasonOf(r.finishReason), usage: usageOf(r.prefix, r), providerMetadata: metadataOf(r) });
        } catch (e) {
          controller.enqueue({ type: 'error', error: e });
        }
        controller.close();
      },
    });
    return { stream, request: { body: request } };
  }
}

/** A provider for the AI SDK over a deeprnn server (`baseURL`) or a model loaded in this process (`model`). */
export function createDeeprnn(settings: DeeprnnProviderSettings): DeeprnnProvider {
  if ((settings.baseURL === undefined) === (settings.model === undefined))
    throw new OptionError('createDeeprnn needs exactly one of baseURL (a deeprnn server) and model (a model loaded with loadModel)');
  const backend = settings.model ? inProcessBackend(settings.model) : serverBackend({ ...settings, baseURL: settings.baseURL! });
  const languageModel = (modelId?: string): LanguageModelV3 => {
    const name = modelId ?? settings.model?.model.name;
    return new DeeprnnLanguageModel(name ?? 'default', modelId, backend);
  };
  return Object.assign((modelId?: string) => languageModel(modelId), { languageModel });
}

/**
 * Generation from a deeprnn server's POST /v1/generate, streamed, following continuations: a
 * server with a CPU budget per request (Workers' free plan: 10 ms) answers a long request in
 * slices that end with finishReason "budget"; this asks for the next slice with the token, so the
 * caller sees one stream of characters and one result, without a seam. The element
 * (<deeprnn-generate endpoint=…>) and the library's `generateFromServer` both run on it.
 */
import { errorBody, type ErrorBody, type GeneratedToken, type GenerateRequest, type GenerateResult, type StartEvent } from './contract.ts';

export interface RemoteOptions {
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /** Extra headers (Authorization: Bearer …). */
  headers?: Record<string, string>;
  /** Slices followed at most (a guard against a server that never finishes). */
  maxSlices?: number;
  onStart?(e: StartEvent): void;
  onTokens?(tokens: GeneratedToken[]): void;
}

/** Parse a Server-Sent Events body, calling `on` for each event as it arrives. */
export async function readSse(body: ReadableStream<Uint8Array>, on: (event: string, data: unknown) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      on(/^event: (.*)$/m.exec(block)?.[1] ?? 'message', JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null'));
    }
  }
}

/** One slice: a streamed request, its events handed on, its result. */
async function slice(endpoint: string, body: Record<string, unknown>, o: RemoteOptions, first: boolean): Promise<GenerateResult> {
  let res: Response;
  try {
    res = await (o.fetch ?? fetch)(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...o.headers },
      body: JSON.stringify({ ...body, stream: true }),
      signal: o.signal,
    });
  } catch (e) {
    if (o.signal?.aborted) throw new Error('stopped');
    throw new Error(`cannot reach ${endpoint}: the host is unreachable or does not allow this page's origin (CORS) (${(e as Error).message})`);
  }
  if (!res.ok || !res.body) throw new Error(((await res.json().catch(() => null)) as ErrorBody | null)?.error?.message ?? `${endpoint}: HTTP ${res.status}`);
  let result: GenerateResult | null = null;
  await readSse(res.body, (event, data) => {
    if (event === 'start' && first) o.onStart?.(data as StartEvent);
    else if (event === 'token') o.onTokens?.([data as GeneratedToken]);
    else if (event === 'done') result = data as GenerateResult;
    else if (event === 'error') throw new Error(((data as ErrorBody | null) ?? errorBody('internal', 'the server failed')).error.message);
  });
  if (!result) throw new Error('the stream ended before its done event');
  return result;
}

/** Two slices as one result: the first's prefix, every slice's characters, the last's ending. */
function joined(a: GenerateResult, b: GenerateResult): GenerateResult {
  const out: GenerateResult = {
    ...b,
    prefix: a.prefix,
    text: a.text + b.text,
    generated: a.generated + b.prefix + b.generated,
    numChars: a.numChars + b.numChars,
    timings: { totalMs: a.timings.totalMs + b.timings.totalMs },
  };
  if (a.logprobs || b.logprobs) out.logprobs = [...(a.logprobs ?? []), ...(b.logprobs ?? [])];
  if (b.continuation === undefined) delete out.continuation;
  return out;
}

/**
 * Generate on a server, streamed, as one result however many budget slices it takes.
 * `endpoint` is the URL of POST /v1/generate.
 */
export async function generateFromServer(endpoint: string, request: Partial<GenerateRequest>, o: RemoteOptions = {}): Promise<GenerateResult> {
  let result = await slice(endpoint, request, o, true);
  const model = request.model;
  for (let n = 1; result.finishReason === 'budget' && result.continuation !== undefined; n++) {
    if (n >= (o.maxSlices ?? 10_000)) throw new Error(`the server answered in more than ${n} slices`);
    const next = await slice(endpoint, { continuation: result.continuation, ...(model !== undefined ? { model } : {}) }, o, false);
    result = joined(result, next);
  }
  return result;
}

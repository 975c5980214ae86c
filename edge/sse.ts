/**
 * Server-Sent Events, one writer for every API: our `/v1/generate` names its events (`start`,
 * `token`, `done`, `error`), OpenAI's `/v1/completions` sends unnamed `data:` lines and a
 * literal `[DONE]`. A client that goes away aborts `abort`, so its generation leaves the batch.
 */
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';

/** One event: `data` as JSON (a string as it is), named `event` when given. */
export const sseFrame = (data: unknown, event?: string): string =>
  `${event === undefined ? '' : `event: ${event}\n`}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;

export interface SseWriter {
  /** Write one event. */
  send(data: unknown, event?: string): Promise<void>;
  /** Write frames made with `sseFrame`, in one write. */
  sendFrames(frames: string): Promise<void>;
  /** Whether the client went away. */
  readonly aborted: boolean;
}

/** Stream the events `write` sends; the client leaving aborts `abort`. */
export function streamEvents(c: Context, abort: AbortController, write: (out: SseWriter) => Promise<void>): Response {
  return streamSSE(c, async (stream) => {
    stream.onAbort(() => abort.abort()); // the client went away: the job leaves the batch
    await write({
      send: async (data, event) => void (await stream.write(sseFrame(data, event))),
      sendFrames: async (frames) => void (await stream.write(frames)),
      get aborted() {
        return stream.aborted;
      },
    });
  });
}

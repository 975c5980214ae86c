/**
 * Hostile clients, as an attacker would be one, against `npm start`'s server on loopback: identities
 * invented in Bearer headers, failed keys by the hundred, a 100 KB field name, a value nested
 * 50,000 deep, forged continuation tokens (unsigned, or signed over a feed the API never allows),
 * one client's 16-beam flood beside another's small request, a body sent a byte at a time, a
 * stream nobody reads. Each was answered wrongly before issue #37 (the figures are in its note);
 * each now gets a bounded, one-line answer.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIBRARY_LIMITS, type GenerateResult } from '../../shared/contract.ts';
import { encodeContinuation, weightsDigest } from '../../shared/continuation.ts';
import { KernelModel } from '../../shared/kernel/stepper.ts';
import { loadKernelNode, readModelDir } from '../../shared/platform/node.ts';
import { localEngine } from '../../edge/engine/engines.ts';
import { startNodeServer, type NodeServer } from '../../edge/node.ts';
import { EDGE_MODEL_DIR } from './samples.ts';

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});
const message = async (r: Response) => ((await r.json()) as { error: { message: string } }).error.message;

describe('a server without API keys, rate-limited per address', () => {
  let server: NodeServer;
  beforeAll(async () => {
    server = await startNodeServer({
      modelDir: EDGE_MODEL_DIR,
      port: 0,
      host: '127.0.0.1',
      workers: 1,
      rateLimit: { perMinute: 5, burst: 5 },
      notice: () => {},
    });
  });
  afterAll(() => server?.close());

  it('random Bearer values are no identity: twenty of them share one address and its five requests (before: all twenty got 200)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${crypto.randomUUID()}` } });
      statuses.push(r.status);
      await r.body?.cancel();
    }
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.slice(5).every((s) => s === 429)).toBe(true);
  });
});

describe('a server with API keys and fair shares', () => {
  let server: NodeServer;
  const secret = 's3cret';
  beforeAll(async () => {
    server = await startNodeServer({
      modelDir: EDGE_MODEL_DIR,
      port: 0,
      host: '127.0.0.1',
      workers: 1,
      batch: 32,
      apiKeys: ['alpha', 'beta'],
      continuationSecret: secret,
      clientRows: 16,
      clientQueuedChars: 50_000,
      requestTimeoutMs: 1500,
      headersTimeoutMs: 1500,
      notice: () => {},
    });
  });
  afterAll(() => server?.close());
  const as = (key: string) => ({ authorization: `Bearer ${key}` });

  it('failed keys are limited per address: ten 401s, then 429 with Retry-After (before: 130 wrong keys, 130 × 401)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 14; i++) {
      const r = await fetch(`${server.url}/v1/models`, { headers: as(`wrong-${i}`) });
      statuses.push(r.status);
      if (r.status === 429) expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      await r.body?.cancel();
    }
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(10).every((s) => s === 429)).toBe(true);
    expect((await fetch(`${server.url}/v1/models`, { headers: as('alpha') })).status).toBe(200); // a good key still works
  });

  it('a 100 KB field name: a 400 that quotes 60 characters of it and suggests nothing (before: the whole name compared with every field, on the event loop)', async () => {
    const name = 'x'.repeat(100_000);
    const r = await fetch(`${server.url}/v1/generate`, json(`{"prefix":"the","${name}":1}`, as('alpha')));
    expect(r.status).toBe(400);
    const m = await message(r);
    expect(m).toMatch(/^x{60}… \(100000 characters\) is not a field \(fields: /);
    expect(m.length).toBeLessThan(600);
  });

  it('a value nested 50,000 levels deep: a 400 with a short excerpt, not a 500 and a stack trace (before: JSON.stringify overflowed in the error path)', async () => {
    const deep = `{"prefix":"the","numChars":5,"stop":${'['.repeat(50_000)}${']'.repeat(50_000)}}`;
    const r = await fetch(`${server.url}/v1/generate`, json(deep, as('alpha')));
    expect(r.status).toBe(400);
    expect(await message(r)).toMatch(/^stop must be .*, got \[\[\[…\]\]\]$/);
  });

  it("forged continuations: unsigned, or signed with the right key over a feed the API never allows (the library's 10,002 ids) — both 400", async () => {
    const model = await readModelDir(EDGE_MODEL_DIR);
    const ok = (await (
      await fetch(`${server.url}/v1/generate`, json({ prefix: 'the', numChars: 5, seed: 1, returnContinuation: true }, as('alpha')))
    ).json()) as GenerateResult;
    expect(ok.continuation).toMatch(/^drc1\./);
    const base = {
      model: model.name,
      weightsSha256: weightsDigest(model),
      seed: 1,
      rng: [1, 2, 3, 4],
      generated: 0,
      remaining: 0,
      settings: { temperature: 0, stop: [], logprobs: 0 },
      textTail: '',
      stopTail: '',
      state: new Float32Array(model.arch.numLayers * model.arch.hiddenSize * (model.arch.cell === 'lstm' ? 2 : 1)),
    };
    const unsigned = encodeContinuation({ ...base, feed: [1] });
    expect(await message(await fetch(`${server.url}/v1/generate`, json({ continuation: unsigned }, as('alpha'))))).toMatch(/not signed/);
    // The library's limit (10,002 ids still to read), signed with the right key: over the API's own.
    const longFeed = encodeContinuation({ ...base, feed: Array.from({ length: LIBRARY_LIMITS.maxPrefixChars }, () => 1) }, secret);
    const r = await fetch(`${server.url}/v1/generate`, json({ continuation: longFeed }, as('alpha')));
    expect(r.status).toBe(400);
    expect(await message(r)).toMatch(/continuation is (malformed|invalid)/);
  });

  it("one client's 16-beam flood: it holds at most its share of rows, its excess waits or is refused (429), and another client's small request runs at once beside it", async () => {
    const flood = Array.from({ length: 5 }, () =>
      fetch(`${server.url}/v1/generate`, json({ prefix: 'the time traveller', numChars: 2000, beamWidth: 16 }, as('alpha'))).then(async (r) => ({
        status: r.status,
        body: await r.text(),
        at: performance.now(),
      })),
    );
    await new Promise((r) => setTimeout(r, 100)); // the flood is admitted first
    const small = await fetch(`${server.url}/v1/generate`, json({ prefix: 'the', numChars: 20, seed: 1 }, as('beta')));
    const smallAt = performance.now();
    expect(small.status).toBe(200);
    const results = await Promise.all(flood);
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toContain(429); // over its waiting-work share (50,000 characters × beams)
    expect(results.find((r) => r.status === 429)!.body).toMatch(/characters of work waiting/);
    // The small request did not wait for the flood: it finished before any 2,000-character beam search.
    for (const r of results.filter((x) => x.status === 200)) expect(smallAt).toBeLessThan(r.at);
  }, 120_000);

  it('a body sent a byte a second is cut off at REQUEST_TIMEOUT_MS (before: still open at 80 s)', async () => {
    const { port, hostname } = new URL(server.url);
    const closed = await new Promise<string>((resolve) => {
      const s = connect(Number(port), hostname);
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.write(`POST /v1/generate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alpha\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`);
      const drip = setInterval(() => s.write(' '), 1000);
      s.on('close', () => clearInterval(drip));
      setTimeout(() => s.destroy(), 20_000);
    });
    expect(closed).toMatch(/^HTTP\/1\.1 408/);
  }, 30_000);

  it("a 3 MB body written whole before reading (Python's urllib does): the 413 arrives, not a broken pipe (before: reset mid-body)", async () => {
    const { port, hostname } = new URL(server.url);
    const body = `{"prefix":"${'a'.repeat(3_000_000)}"}`;
    const outcome = await new Promise<{ response: string; error: string | null }>((resolve) => {
      const s = connect(Number(port), hostname);
      let response = '';
      let error: string | null = null;
      s.on('data', (d) => (response += d.toString()));
      s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
      s.on('close', () => resolve({ response, error }));
      // As sendall does: the next chunk only once the last has left, and nothing read until the end.
      s.pause();
      const head = `POST /v1/generate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alpha\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
      const chunks = [head, ...Array.from({ length: Math.ceil(body.length / 65536) }, (_, i) => body.slice(i * 65536, (i + 1) * 65536))];
      const next = (i: number): void => {
        if (i === chunks.length) return void s.resume();
        if (s.write(chunks[i])) setImmediate(() => next(i + 1));
        else s.once('drain', () => next(i + 1));
      };
      next(0);
    });
    expect(outcome.error).toBeNull();
    expect(outcome.response).toMatch(/^HTTP\/1\.1 413/);
    expect(outcome.response).toMatch(/the request body is over 114688 bytes/);
  }, 30_000);

  it('/healthz?reset takes a key when keys are set; /healthz itself stays open to a supervisor', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/healthz?reset`)).status).toBe(401);
    expect((await fetch(`${server.url}/healthz?reset`, { headers: as('beta') })).status).toBe(200);
  });
});

describe('a stream nobody reads', () => {
  it('ends its generation once STREAM_BACKLOG_CHARS wait unsent, and gives its rows back (before: 40 such streams held their rows and grew the heap)', async () => {
    const model = await readModelDir(EDGE_MODEL_DIR);
    const engine = localEngine(new KernelModel(await loadKernelNode(), model), { capacity: 4, queueSize: 4, deadlineMs: 60_000, streamBacklog: 50 });
    const { validateGeneration } = await import('../../shared/decode/validate.ts');
    const { startEvent } = await import('../../shared/decode/job.ts');
    const g = validateGeneration(model, { prefix: 'the', numChars: 2000, seed: 1 });
    const gen = engine.generate(g, startEvent(model, g), { stream: true, client: 'ip:1' }); // tokens() never read
    await expect(gen.outcome).rejects.toThrow(/stopped reading: over 50 characters were waiting/);
    expect(engine.stats()).toMatchObject({ running: 0, activeRows: 0 });
    await engine.close();
  });
});

describe('a server without CONTINUATION_SECRET', () => {
  it('signs with a random secret made at start, and says so: forged unsigned tokens are refused', async () => {
    const notices: string[] = [];
    const server = await startNodeServer({ modelDir: EDGE_MODEL_DIR, port: 0, host: '127.0.0.1', workers: 1, notice: (l) => notices.push(l) });
    try {
      expect(notices).toEqual([expect.stringMatching(/^CONTINUATION_SECRET is not set: continuation tokens are signed with a random secret/)]);
      const r = (await (
        await fetch(`${server.url}/v1/generate`, json({ prefix: 'the', numChars: 5, seed: 1, returnContinuation: true }))
      ).json()) as GenerateResult;
      const token = r.continuation!;
      const resumed = await fetch(`${server.url}/v1/generate`, json({ continuation: token }));
      expect(resumed.status).toBe(200);
      const model = await readModelDir(EDGE_MODEL_DIR);
      const forged = encodeContinuation({
        model: model.name,
        weightsSha256: weightsDigest(model),
        seed: 1,
        rng: [1, 2, 3, 4],
        feed: [1],
        generated: 0,
        remaining: 0,
        settings: { temperature: 0, stop: [], logprobs: 0 },
        textTail: '',
        stopTail: '',
        state: new Float32Array(model.arch.numLayers * model.arch.hiddenSize * (model.arch.cell === 'lstm' ? 2 : 1)),
      });
      const refused = await fetch(`${server.url}/v1/generate`, json({ continuation: forged }));
      expect(refused.status).toBe(400);
      expect(await message(refused)).toMatch(/not signed/);
    } finally {
      await server.close();
    }
  });
});

import { describe, expect, it } from 'vitest';
import { paced } from '../../edge/pacing.ts';

/** A fetch that records the order requests start in, and a turn the test advances by hand. */
function harness(perTurn: number, maxWaiting = 100) {
  const started: string[] = [];
  const turns: (() => void)[] = [];
  const fetch = paced(
    (r: Request) => {
      const path = new URL(r.url).pathname;
      if (path === '/throws') throw new Error('sync failure');
      started.push(path);
      return new Response(path);
    },
    { perTurn, maxWaiting, immediate: (r) => new URL(r.url).pathname === '/healthz', nextTurn: (run) => turns.push(run) },
  );
  const nextTurn = async () => {
    const pending = turns.splice(0);
    for (const run of pending) run();
    await Promise.resolve();
  };
  return { fetch, started, nextTurn, turns };
}
const req = (path: string, init?: RequestInit) => new Request(`http://edge.test${path}`, init);

describe('pacing: requests that arrive together start a few per event-loop turn', () => {
  it('starts perTurn requests at once, the rest in order over the next turns; each gets its own response', async () => {
    const { fetch, started, nextTurn } = harness(2);
    const responses = ['/a', '/b', '/c', '/d', '/e'].map((p) => fetch(req(p)));
    expect(started).toEqual(['/a', '/b']);
    await nextTurn();
    expect(started).toEqual(['/a', '/b', '/c', '/d']);
    await nextTurn();
    expect(started).toEqual(['/a', '/b', '/c', '/d', '/e']);
    expect(await Promise.all(responses.map(async (r) => (await r).text()))).toEqual(['/a', '/b', '/c', '/d', '/e']);
  });

  it('a request never overtakes one that waits, and the allowance renews each turn', async () => {
    const { fetch, started, nextTurn } = harness(1);
    void fetch(req('/a'));
    void fetch(req('/b'));
    await nextTurn(); // /b starts; this turn's allowance is spent
    void fetch(req('/c'));
    expect(started).toEqual(['/a', '/b']);
    await nextTurn();
    expect(started).toEqual(['/a', '/b', '/c']);
  });

  it('/healthz is answered at once, even behind a queue', async () => {
    const { fetch, started } = harness(1);
    for (const p of ['/a', '/b', '/c']) void fetch(req(p));
    await fetch(req('/healthz'));
    expect(started).toEqual(['/a', '/healthz']);
  });

  it('a waiting request whose client left is not started; a synchronous failure rejects its promise', async () => {
    const { fetch, started, nextTurn } = harness(1);
    const gone = new AbortController();
    void fetch(req('/a'));
    const left = fetch(req('/left', { signal: gone.signal }));
    const failing = fetch(req('/throws'));
    gone.abort();
    await nextTurn();
    expect((await left).status).toBe(499);
    await nextTurn();
    await expect(failing).rejects.toThrow('sync failure');
    expect(started).toEqual(['/a']);
  });

  it('never holds more than maxWaiting: past it a request starts at once, unpaced', async () => {
    const { fetch, started, nextTurn } = harness(1, 2);
    for (const p of ['/a', '/b', '/c', '/d', '/e']) void fetch(req(p));
    expect(started).toEqual(['/a', '/d', '/e']); // /b and /c wait; the queue is full for /d and /e
    await nextTurn();
    expect(started).toEqual(['/a', '/d', '/e', '/b']);
  });

  it('refuses a perTurn or maxWaiting that is not a positive integer', () => {
    const make = (perTurn: number, maxWaiting: number) => () =>
      paced(() => new Response(), { perTurn, maxWaiting, immediate: () => false, nextTurn: () => {} });
    for (const perTurn of [0, 1.5, Number.NaN]) expect(make(perTurn, 10)).toThrow(/perTurn/);
    for (const maxWaiting of [-1, 0.5]) expect(make(1, maxWaiting)).toThrow(/maxWaiting/);
  });
});

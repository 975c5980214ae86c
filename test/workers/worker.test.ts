import { SELF } from 'cloudflare:test';
import { describe, expect, inject, it } from 'vitest';
import { apiCases, post, SAMPLES } from '../edge/api-cases.ts';

const fetch = (path: string, init?: RequestInit) => SELF.fetch(`https://edge.test${path}`, init);

describe('the Workers entry in workerd (bundled model and kernel)', () => {
  apiCases(fetch);

  it('gives the same text as Node for the same seed', async () => {
    const expected = inject('nodeTexts');
    expect(expected).toHaveLength(SAMPLES.length);
    for (const [i, s] of SAMPLES.entries()) {
      const body = (await (await fetch('/v1/generate', post(s))).json()) as { text: string };
      expect(body.text).toBe(expected[i]);
    }
  });
});

declare module 'vitest' {
  export interface ProvidedContext {
    nodeTexts: string[];
  }
}

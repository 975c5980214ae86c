import { SELF } from 'cloudflare:test';
import { describe, expect, inject, it } from 'vitest';
import { apiCases, post, SAMPLES } from '../edge/api-cases.ts';
import kernelModule from '../../shared/kernel/build/kernel.wasm';
import { generationKernel } from '../../shared/kernel/kernel.ts';

const fetch = (path: string, init?: RequestInit) => SELF.fetch(`https://edge.test${path}`, init);

describe('the Workers entry in workerd (bundled model and kernel)', () => {
  apiCases(fetch);

  it('runs the fastest exact build workerd offers, and gives the same text as Node for the same seed', async () => {
    const { engine } = (await (await fetch('/healthz')).json()) as { engine: string };
    console.log('workerd:', engine);
    expect(engine).toMatch(/\(kernel-dot(add)?\.wasm\)$/); // workerd has relaxed SIMD
    const expected = inject('nodeTexts');
    expect(expected).toHaveLength(SAMPLES.length);
    for (const [i, s] of SAMPLES.entries()) {
      const body = (await (await fetch('/v1/generate', post(s))).json()) as { text: string };
      expect(body.text).toBe(expected[i]);
    }
  });

  it("the kernel's bytes cannot be compiled here: the error says so and names the option to pass (before: 'it needs 128-bit SIMD')", async () => {
    // A valid module's bytes (the smallest: the header) reach the compile step, which workerd refuses.
    const header = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    await expect(generationKernel({ portable: header })).rejects.toThrow(
      /cannot compile WebAssembly from bytes .*import kernel from 'deeprnn\/kernel\.wasm'.*loadModel\(source, \{ kernel \}\)/,
    );
    // The module itself, as a Worker of your own passes it, runs.
    expect((await generationKernel({ portable: kernelModule })).build).toBeDefined();
  });

  it('a client that disconnects stops its generation: its rows are free again', async () => {
    const r = await fetch('/v1/generate', post({ prefix: 'the', numChars: 2000, stream: true }));
    const reader = r.body!.getReader();
    await reader.read();
    expect(((await (await fetch('/healthz')).json()) as { running: number }).running).toBe(1);
    await reader.cancel();
    let running = 1;
    for (let i = 0; i < 50 && running > 0; i++) {
      await new Promise((res) => setTimeout(res, 20));
      running = ((await (await fetch('/healthz')).json()) as { running: number }).running;
    }
    expect(running).toBe(0);
  });
});

declare module 'vitest' {
  export interface ProvidedContext {
    nodeTexts: string[];
  }
}

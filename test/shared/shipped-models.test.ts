import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { predict } from '../../shared/generate.ts';
import { bestStepper } from '../../shared/kernel/stepper.ts';
import { loadKernelNode, readModelDir } from '../../shared/platform/node.ts';
import { readTimeMachineLines } from '../../shared/text.ts';

const root = new URL('../..', import.meta.url).pathname;
const book = readTimeMachineLines(readFileSync(`${root}data/timemachine.txt`, 'utf8')).join('');

describe('models/d2l-deep-lstm (npx deeprnn train --preset d2l)', () => {
  it("reaches d2l's perplexity and, like the book, recites lines of the book", async () => {
    const model = await readModelDir(`${root}models/d2l-deep-lstm`);
    expect(model.training?.trainPerplexity).toBeLessThanOrEqual(1.1);
    expect(model.training?.epochs).toBe(500);
    expect(model.training?.hyperparameters).toMatchObject({ maxTokens: 10000, batchSize: 32, numSteps: 35, optimizer: 'sgd', lr: 2, clip: 1 });
    const stepper = bestStepper(model, await loadKernelNode());
    for (const prefix of ['time traveller', 'traveller']) {
      const { text } = predict(model, { prefix, numChars: 50 }, stepper);
      expect(book, text).toContain(text);
    }
  });
});

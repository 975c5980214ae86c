import { describe, expect, it } from 'vitest';
import { tensorSpecs, numElements, type Architecture, type Cell, type Model, type Params } from '../../shared/model.ts';
import { beginState, referenceStep } from '../../shared/reference.ts';
import { Vocab } from '../../shared/vocab.ts';

function modelOf(arch: Architecture, params: Params): Model {
  const tokens = ['<unk>', ...'abcdefghijklmnopqrstuvwxyz'.slice(0, arch.vocabSize - 1)];
  return { name: 't', arch, vocab: new Vocab(tokens), preprocessing: 'd2l', params, training: null };
}

function run(model: Model, tokens: number[]): Float32Array[] {
  let state = beginState(model.arch);
  return tokens.map((t) => {
    const out = referenceStep(model, state, t);
    state = out.state;
    return out.logits;
  });
}

describe('reference forward pass', () => {
  it('matches a tiny RNN (H=2, V=3) computed by hand', () => {
    const arch: Architecture = { cell: 'rnn', numLayers: 1, hiddenSize: 2, vocabSize: 3, input: 'one-hot' };
    const model = modelOf(arch, {
      'rnn.weight_ih_l0': Float32Array.of(0.5, -1, 0, 0.25, 0, 2), // [2, 3]
      'rnn.weight_hh_l0': Float32Array.of(1, 0.5, 0, -1), // [2, 2]
      'rnn.bias_ih_l0': Float32Array.of(0.1, -0.2),
      'rnn.bias_hh_l0': Float32Array.of(0.2, 0),
      'linear.weight': Float32Array.of(1, 2, -1, 0, 0.5, 0.5), // [3, 2]
      'linear.bias': Float32Array.of(0, 0.1, -0.1),
    });
    const [y1, y2] = run(model, [1, 2]);
    // step 1: x = e1 → W_ih column 1 = (-1, 0); h = tanh(-1 + 0.1 + 0.2, 0 - 0.2) = tanh(-0.7, -0.2)
    const a = Math.tanh(-0.7);
    const b = Math.tanh(-0.2);
    [a + 2 * b, -a + 0.1, 0.5 * a + 0.5 * b - 0.1].forEach((v, i) => expect(y1[i]).toBeCloseTo(v, 6));
    // step 2: x = e2 → (0, 2); W_hh h = (a + 0.5 b, -b)
    const c = Math.tanh(0 + 0.1 + 0.2 + a + 0.5 * b);
    const d = Math.tanh(2 - 0.2 + 0 - b);
    const expected = [c + 2 * d, -c + 0.1, 0.5 * c + 0.5 * d - 0.1];
    y2.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
  });

  // Weights filled in state_dict order with ((k·37) mod 19 − 9)/10; expected logits printed by
  // PyTorch's nn.LSTM / nn.GRU / nn.RNN + nn.Linear for tokens 0,2,1,3,2 (the last two steps).
  const golden: Record<Cell, number[][]> = {
    lstm: [
      [0.5342683, 0.5578498, -0.2012517, -0.1776702],
      [0.5179746, 0.5317999, -0.1752688, -0.1614434],
    ],
    gru: [
      [-0.8225471, -0.7162564, -0.6099656, -0.5036747],
      [-0.8028978, -0.7045881, -0.6062782, -0.5079685],
    ],
    rnn: [
      [0.5188293, 0.4098012, -1.1253392, 0.2489231],
      [0.4995381, 0.3866989, -0.7607541, 0.2423356],
    ],
  };
  for (const cell of ['lstm', 'gru', 'rnn'] as const) {
    it(`equals PyTorch's nn.${cell.toUpperCase()} on a 2-layer model (gate order, GRU reset placement)`, () => {
      const arch: Architecture = { cell, numLayers: 2, hiddenSize: 3, vocabSize: 4, input: 'one-hot' };
      const params: Params = {};
      let k = 0;
      for (const spec of tensorSpecs(arch)) {
        const t = new Float32Array(numElements(spec.shape));
        for (let i = 0; i < t.length; i++, k++) t[i] = (((k * 37) % 19) - 9) / 10;
        params[spec.name] = t;
      }
      const ys = run(modelOf(arch, params), [0, 2, 1, 3, 2]);
      golden[cell].forEach((row, j) => row.forEach((v, i) => expect(ys[3 + j][i]).toBeCloseTo(v, 6)));
    });
  }
});

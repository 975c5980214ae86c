import { beforeAll, describe, expect, it } from 'vitest';
import type { GenerateResult } from '../../shared/contract.ts';
import { base64url, checkContinuation, crc32, decodeContinuation, encodeContinuation, fromBase64url, weightsDigest } from '../../shared/continuation.ts';
import { macsPerStep, planBudget } from '../../shared/cost.ts';
import { predict } from '../../shared/generate.ts';
import { KernelModel } from '../../shared/kernel/stepper.ts';
import type { Model } from '../../shared/model.ts';
import { loadKernelNode, readModelDir } from '../../shared/platform/node.ts';
import { hmacSha256 } from '../../shared/sha256.ts';
import { randomModel } from '../helpers.ts';
import { EDGE_MODEL_DIR, SECOND_MODEL_DIR } from '../edge/samples.ts';

let tm: Model;
let authors: Model;
let kTm: KernelModel;
let kAuthors: KernelModel;
beforeAll(async () => {
  const kernel = await loadKernelNode();
  tm = await readModelDir(EDGE_MODEL_DIR);
  authors = await readModelDir(SECOND_MODEL_DIR);
  kTm = new KernelModel(kernel, tm);
  kAuthors = new KernelModel(kernel, authors);
});

/** Generate `total` characters in pieces of `sizes`, each resuming the last; the concatenated texts. */
function inPieces(model: Model, on: KernelModel, request: Record<string, unknown>, sizes: number[]): { text: string; last: GenerateResult } {
  let r = predict(model, { ...request, numChars: sizes[0] }, on);
  let text = r.text;
  for (const n of sizes.slice(1)) {
    expect(r.continuation, `a ${r.finishReason} result carries a continuation`).toBeTypeOf('string');
    r = predict(model, { continuation: r.continuation, numChars: n }, on);
    text += r.text;
  }
  return { text, last: r };
}

describe('continuations: resuming gives the uninterrupted text', () => {
  const settings: [string, Record<string, unknown>][] = [
    ['greedy', { prefix: 'time traveller', seed: 1 }],
    ['temperature', { prefix: 'the time machine', temperature: 0.9, seed: 42 }],
    ['top-k and top-p', { prefix: 'the', temperature: 1.2, topK: 8, topP: 0.9, seed: 3 }],
    ['logprobs', { prefix: 'it was', temperature: 0.7, logprobs: 3, seed: 9 }],
  ];
  for (const [what, request] of settings) {
    it(`${what}: split anywhere`, () => {
      const full = predict(tm, { ...request, numChars: 240 }, kTm);
      for (const sizes of [
        [1, 239],
        [100, 140],
        [37, 1, 1, 201],
        [239, 1],
      ]) {
        const { text, last } = inPieces(tm, kTm, request, sizes);
        expect(text).toBe(full.text);
        expect(last.finishReason).toBe('length');
      }
    });
  }

  it('with an author and stop sequences (the stop matcher and paragraph starts cross the seam)', () => {
    const request = { prefix: 'The ', author: 'doyle', temperature: 0.8, seed: 5, stop: ['\n\n\n', 'Holmes said'] };
    const full = predict(authors, { ...request, numChars: 400 }, kAuthors);
    let r = predict(authors, { ...request, numChars: 50 }, kAuthors);
    let text = r.text;
    while (r.finishReason === 'length' && text.length < full.text.length) {
      r = predict(authors, { continuation: r.continuation, numChars: 50 }, kAuthors);
      text += r.text;
    }
    expect(text).toBe(full.text.slice(0, text.length));
    if (full.finishReason === 'stop') expect(text).toBe(full.text);
  });

  it('a model without a kernel (the reference pass, GRU) resumes too', () => {
    const m = randomModel('gru', { seed: 4 });
    const request = { prefix: 'time', temperature: 1, seed: 8 };
    const full = predict(m, { ...request, numChars: 60 });
    const a = predict(m, { ...request, numChars: 20 });
    const b = predict(m, { continuation: a.continuation, numChars: 40 });
    expect(a.text + b.text).toBe(full.text);
  });

  it('a stop sequence ends without a continuation; length, budget and deadline carry one', () => {
    const r = predict(tm, { prefix: 'time traveller', numChars: 500, stop: ['the'], seed: 1 }, kTm);
    expect(r.finishReason).toBe('stop');
    expect(r.continuation).toBeUndefined();
    expect(predict(tm, { prefix: 'the', numChars: 4, beamWidth: 3 }, kTm).continuation).toBeUndefined();
  });

  it('co-writing: text added with the continuation is read before the model goes on (greedy: as if it had been in the prefix)', () => {
    const a = predict(tm, { prefix: 'time traveller', numChars: 30 }, kTm);
    const b = predict(tm, { continuation: a.continuation, prefix: ' and the machine', numChars: 40 }, kTm);
    const fresh = predict(tm, { prefix: a.text + ' and the machine', numChars: 40 }, kTm);
    expect(b.prefix).toBe(' and the machine');
    expect(b.generated).toBe(fresh.generated);
  });

  it('without numChars, a continuation generates what its request still wanted', () => {
    const a = predict(tm, { prefix: 'the', numChars: 300, temperature: 0.5, seed: 2 }, kTm, undefined, { cpuMs: 2 });
    expect(a.finishReason).toBe('budget');
    const b = predict(tm, { continuation: a.continuation }, kTm);
    expect(a.numChars + b.numChars).toBe(300);
    expect(a.text + b.text).toBe(predict(tm, { prefix: 'the', numChars: 300, temperature: 0.5, seed: 2 }, kTm).text);
  });
});

describe('a CPU budget per request', () => {
  it('2,000 characters under a small budget come back in slices whose concatenation is the uninterrupted text', () => {
    const request = { prefix: 'time traveller '.repeat(30), numChars: 2000, temperature: 0.8, seed: 11 };
    const full = predict(tm, request, kTm);
    let r = predict(tm, request, kTm, undefined, { cpuMs: 3 });
    let text = r.text;
    let slices = 1;
    while (r.finishReason === 'budget') {
      r = predict(tm, { continuation: r.continuation }, kTm, undefined, { cpuMs: 3 });
      text += r.text;
      slices++;
    }
    expect(text).toBe(full.text);
    expect(slices).toBeGreaterThan(10);
  });

  it('a prefix longer than the budget is read in slices, generating nothing until it is read', () => {
    const prefix = 'the time traveller '.repeat(50);
    const budget = planBudget(tm, 3, prefix.length - 1, 50);
    expect(budget.prefill).toBeLessThan(prefix.length - 1);
    const r = predict(tm, { prefix, numChars: 50, seed: 1 }, kTm, undefined, { cpuMs: 3 });
    expect(r).toMatchObject({ finishReason: 'budget', generated: '', prefix });
  });

  it("plans from each model's multiply-adds, and always moves forward", () => {
    expect(macsPerStep(tm)).toBe(2 * 4 * 256 * 256 + 4 * 256 * 256 + 28 * 256);
    expect(planBudget(tm, 0.1, 0, 10)).toEqual({ prefill: 0, chars: 1 }); // less than the request's own cost: one step still
    expect(planBudget(tm, 0.1, 5, 10)).toEqual({ prefill: 1, chars: 0 });
    const big = planBudget(tm, 30_000, 1000, 2000);
    expect(big).toEqual({ prefill: 1000, chars: 2000 });
  });

  it('beam search ends at the budget with its best beam, and refuses a prefix it cannot read', () => {
    const r = predict(tm, { prefix: 'the', numChars: 2000, beamWidth: 4 }, kTm, undefined, { cpuMs: 10 });
    expect(r.finishReason).toBe('budget');
    expect(r.continuation).toBeUndefined();
    expect(() => predict(tm, { prefix: 'the time traveller '.repeat(50), numChars: 20, beamWidth: 4 }, kTm, undefined, { cpuMs: 3 })).toThrow(
      /beam search cannot read this prefix/,
    );
  });
});

describe('bad tokens are refused with one line, never a fault', () => {
  const token = () => predict(tm, { prefix: 'time traveller', numChars: 10, temperature: 0.8, seed: 1 }, kTm).continuation!;
  const resume =
    (continuation: string, extra: Record<string, unknown> = {}, secret?: string) =>
    () =>
      predict(tm, { continuation, numChars: 5, ...extra }, kTm, undefined, { secret });

  it('garbage, another format, a damaged or truncated token', () => {
    const t = token();
    expect(resume('hello')).toThrow(/not a deeprnn continuation token/);
    expect(resume('drc2.AAAA')).toThrow(/format version 2/);
    expect(resume('drc1.!!!!')).toThrow(/not a deeprnn continuation token/);
    const i = 40;
    const flipped = t.slice(0, i) + (t[i] === 'A' ? 'B' : 'A') + t.slice(i + 1);
    expect(resume(flipped)).toThrow(/damaged|malformed/);
    expect(resume(t.slice(0, t.length - 10))).toThrow(/damaged|malformed/);
    expect(resume(t.slice(0, 12))).toThrow(/damaged|malformed/);
  });

  it('every decoded number is checked, even under a valid checksum', () => {
    const c = decodeContinuation(token());
    const reencode = (over: object) => encodeContinuation({ ...c, ...over });
    expect(resume(reencode({ state: c.state.map((v, i) => (i === 3 ? NaN : v)) }))).toThrow(/non-finite/);
    expect(resume(reencode({ state: c.state.map((v, i) => (i === 3 ? 5 : v)) }))).toThrow(/outside \[-1, 1\]/);
    expect(resume(reencode({ state: c.state.subarray(1) }))).toThrow(/recurrent state has/);
    expect(resume(reencode({ feed: [999] }))).toThrow(/outside the vocabulary/);
    expect(resume(reencode({ rng: [0, 0, 0, 0] }))).toThrow(/sampler state/);
    expect(resume(reencode({ settings: { ...c.settings, temperature: -1 } }))).toThrow(/invalid temperature -1/);
    expect(resume(reencode({ settings: { ...c.settings, author: 'doyle' } }))).toThrow(/does not know/);
  });

  it('every field is held to its bound on the way in, under a valid checksum: a forger gains nothing by lengths or counts', () => {
    const c = decodeContinuation(token());
    const reencode = (over: object) => encodeContinuation({ ...c, ...over });
    const malformed = /malformed/;
    expect(() => decodeContinuation(reencode({ feed: [] }))).toThrow(malformed);
    expect(() =>
      decodeContinuation(reencode({ feed: new Array(1003).fill(1) }), undefined, { maxPrefixChars: 1000, maxNumChars: 2000, maxScoreChars: 1 }),
    ).toThrow(malformed);
    expect(
      decodeContinuation(reencode({ feed: new Array(1002).fill(1) }), undefined, { maxPrefixChars: 1000, maxNumChars: 2000, maxScoreChars: 1 }).feed,
    ).toHaveLength(1002);
    expect(() => decodeContinuation(reencode({ settings: { ...c.settings, stop: ['a', 'b', 'c', 'd', 'e'] } }))).toThrow(malformed);
    expect(decodeContinuation(reencode({ settings: { ...c.settings, stop: ['a', 'b', 'c', 'd'] } })).settings.stop).toHaveLength(4);
    expect(() => decodeContinuation(reencode({ remaining: 100_001 }))).toThrow(/remaining count of 100001/);
    expect(decodeContinuation(reencode({ remaining: 100_000 })).remaining).toBe(100_000);
    expect(() => decodeContinuation(reencode({ rng: [0, 0, 0, 1] }))).not.toThrow();
    expect(() => decodeContinuation(reencode({ textTail: 'x'.repeat(35) }))).toThrow(malformed);
    expect(() => decodeContinuation(reencode({ stopTail: 'x'.repeat(35) }))).toThrow(malformed);
    expect(decodeContinuation(reencode({ textTail: 'x'.repeat(34), stopTail: 'y'.repeat(34) })).stopTail).toBe('y'.repeat(34));
    expect(() => decodeContinuation(reencode({ settings: { ...c.settings, topK: 0, topP: 0.5, author: '' } }))).not.toThrow();
    // Each setting against its own field's bounds, named in the message.
    const invalid = (settings: object) => () => decodeContinuation(reencode({ settings: { ...c.settings, ...settings } }));
    expect(invalid({ topK: 2_000_000 })).toThrow(/invalid topK 2000000/);
    expect(invalid({ topP: 2 })).toThrow(/invalid topP 2/);
    expect(invalid({ logprobs: 11 })).toThrow(/invalid logprobs 11/);
    expect(invalid({ stop: ['x'.repeat(33)] })).toThrow(/invalid stop \["x{33}"\]/);
    expect(invalid({ author: 'x'.repeat(65) })).toThrow(/invalid author "x{65}"/);
    // A signed token is read on its checksum where no secret is set (a page's library), and refused as unsigned where one is.
    const signed = encodeContinuation(c, 'k');
    expect(decodeContinuation(signed).seed).toBe(c.seed);
    expect(() => decodeContinuation(encodeContinuation(c), 'k')).toThrow(/not signed, and this server only resumes/);
    // The version's number is read whole, and the token must be all of the string.
    expect(() => decodeContinuation(`x${token()}`)).toThrow(/not a deeprnn continuation token/);
    expect(() => decodeContinuation(token().replace('drc1.', 'drc11.'))).toThrow(/format version 11/);
    // Flags other than "signed", and a payload too short for its checksum.
    const bytes = fromBase64url(token().slice(5))!;
    const flagged = bytes.slice();
    flagged[0] = 2;
    expect(() => decodeContinuation(`drc1.${base64url(flagged)}`)).toThrow(malformed);
    expect(() => decodeContinuation(`drc1.${base64url(bytes.subarray(0, 5))}`)).toThrow(/damaged|malformed/);
    expect(() => decodeContinuation(`drc1.${base64url(bytes.subarray(0, 4))}`)).toThrow(malformed);
    expect(() => decodeContinuation('drc1.')).toThrow(malformed);
  });

  it('checked against the model: the name and the weights both, every id below the vocabulary size, stops in its alphabet; a 7-bit rendition names other weights', () => {
    const c = decodeContinuation(token());
    const check =
      (over: object, model: Model = tm) =>
      () =>
        checkContinuation({ ...c, ...over }, model);
    expect(check({})).not.toThrow();
    expect(check({ model: 'another-name' })).toThrow(/is from model "another-name"/);
    expect(check({ weightsSha256: 'f'.repeat(64) })).toThrow(/weights ffffffffffff/);
    expect(check({ feed: [tm.arch.vocabSize] })).toThrow(/token id 28, outside the vocabulary of 28/);
    expect(check({ feed: [tm.arch.vocabSize - 1] })).not.toThrow();
    expect(check({ settings: { ...c.settings, stop: ['Q'] } })).toThrow(/stop sequence with "Q"/);
    const seven = { ...tm, stateBits: 7 } as Model;
    const sixteen = { ...tm, stateBits: 16 } as Model;
    expect(weightsDigest(sixteen)).toBe(tm.weightsSha256);
    expect(weightsDigest(seven).slice(0, 62)).toBe(tm.weightsSha256!.slice(0, 62));
    expect(parseInt(weightsDigest(seven).slice(62), 16)).toBe(parseInt(tm.weightsSha256!.slice(62), 16) ^ 7);
    expect(check({}, tm.stateBits === 7 ? sixteen : seven)).toThrow(/resume it on the model that made it/);
    expect(weightsDigest({ ...sixteen, weightsSha256: undefined } as Model)).toBe('0'.repeat(64));
    expect(() => checkContinuation({ ...c, weightsSha256: '0'.repeat(64) }, tm)).toThrow(/\(weights unsaved\), not from/);
  });

  it("a constrained token's parser state: round-trips whole (however large), and its counts and depths are bounded", () => {
    const c = decodeContinuation(token());
    const stacks = Array.from({ length: 300 }, (_, i) => Array.from({ length: 12 }, (_, k) => i * 100 + k));
    const big = decodeContinuation(encodeContinuation({ ...c, constraint: { name: 'regex:abc', stacks } }));
    expect(big.constraint).toEqual({ name: 'regex:abc', stacks });
    expect(big.state).toEqual(c.state);
    const bad = (constraint: object) => () => decodeContinuation(encodeContinuation({ ...c, constraint } as typeof c));
    expect(bad({ name: '', stacks: [[1]] })).toThrow(/malformed/);
    expect(bad({ name: 'regex:x', stacks: [] })).toThrow(/malformed/);
    expect(bad({ name: 'regex:x', stacks: new Array(4097).fill([]) })).toThrow(/malformed/);
    expect(decodeContinuation(encodeContinuation({ ...c, constraint: { name: 'regex:x', stacks: new Array(4096).fill([]) } })).constraint!.stacks).toHaveLength(
      4096,
    );
    expect(bad({ name: 'regex:x', stacks: [new Array(100_001).fill(0)] })).toThrow(/malformed/);
    expect(
      decodeContinuation(encodeContinuation({ ...c, constraint: { name: 'regex:x', stacks: [new Array(100_000).fill(0)] } })).constraint!.stacks[0],
    ).toHaveLength(100_000);
  });

  it('a token of other weights names both models', () => {
    const other = predict(authors, { prefix: 'The ', numChars: 5, seed: 1 }, kAuthors).continuation!;
    expect(resume(other)).toThrow(/is from model "authors-deep-lstm" \(weights [0-9a-f]{12}\), not from "timemachine-deep-lstm" \(weights [0-9a-f]{12}\)/);
  });

  it('settings come from the token: repeating one is fine, contradicting one is refused', () => {
    const t = token();
    expect(resume(t, { temperature: 0.8, seed: 1 })).not.toThrow();
    expect(resume(t, { temperature: 0.5 })).toThrow(/temperature is 0.5 here and 0.8 in the continuation/);
    expect(resume(t, { seed: 2 })).toThrow(/seed is 2 here and 1/);
    expect(resume(t, { stop: ['x'] })).toThrow(/stop is \["x"\] here and \[\] in the continuation/);
    expect(resume(t, { beamWidth: 2 })).toThrow(/beamWidth is not allowed with a continuation/);
  });

  it('with a secret: signed tokens resume, unsigned and forged ones do not', () => {
    const signed = predict(tm, { prefix: 'the', numChars: 5, seed: 1 }, kTm, undefined, { secret: 's3cret' }).continuation!;
    expect(resume(signed, {}, 's3cret')).not.toThrow();
    expect(resume(signed, {}, 'other')).toThrow(/not signed by this server/);
    expect(resume(token(), {}, 's3cret')).toThrow(/not signed/);
    // Without a secret (a page's library), a signed token is taken on its checksum.
    expect(resume(signed)).not.toThrow();
  });

  describe('forgeries as an attacker makes them', () => {
    const SECRET = 's3cret';
    const key = new TextEncoder().encode(SECRET);
    const signedToken = () =>
      predict(tm, { prefix: 'time traveller', numChars: 10, temperature: 0.8, seed: 1 }, kTm, undefined, { secret: SECRET }).continuation!;
    /** payload ‖ CRC-32 (little-endian) ‖ HMAC, as the format lays it out. */
    const split = (token: string) => {
      const bytes = fromBase64url(token.slice('drc1.'.length))!;
      const end = bytes.length - 4 - 32;
      return { payload: bytes.slice(0, end), hmac: bytes.slice(end + 4) };
    };
    const crc = (payload: Uint8Array) => {
      const out = new Uint8Array(4);
      new DataView(out.buffer).setUint32(0, crc32(payload), true);
      return out;
    };
    const join = (payload: Uint8Array, hmac: Uint8Array) => `drc1.${base64url(Uint8Array.from([...payload, ...crc(payload), ...hmac]))}`;

    it('an edited payload with its checksum recomputed and the signature kept: refused by the signature', () => {
      const { payload, hmac } = split(signedToken());
      expect(resume(join(payload, hmac), {}, SECRET)).not.toThrow(); // the reassembly itself is faithful
      // The seed (bytes after the flag, the model name and the weights' digest) raised by one, and the last state float's low byte.
      for (const at of [payload.length - 1, Math.floor(payload.length / 2), 60]) {
        const edited = payload.slice();
        edited[at] ^= 1;
        expect(resume(join(edited, hmac), {}, SECRET), `byte ${at}`).toThrow(/not signed by this server: its signature does not match/);
      }
    });

    it('a payload cut short, checksummed and signed with the right key: refused as malformed, never read past its end', () => {
      const { payload } = split(signedToken());
      for (const cut of [1, 17, 200, payload.length - 8]) {
        const short = payload.slice(0, cut);
        expect(resume(join(short, hmacSha256(key, short)), {}, SECRET), `cut at ${cut}`).toThrow(/malformed|invalid/);
      }
    });

    it('the signature covers every byte: flipping a bit anywhere in the payload, the checksum or the signature is refused', () => {
      const t = signedToken();
      const bytes = fromBase64url(t.slice('drc1.'.length))!;
      const step = Math.max(1, Math.floor(bytes.length / 300));
      let tried = 0;
      for (let i = 0; i < bytes.length; i += step) {
        const flipped = bytes.slice();
        flipped[i] ^= 0x10;
        expect(resume(`drc1.${base64url(flipped)}`, {}, SECRET), `byte ${i} of ${bytes.length}`).toThrow(/damaged|not signed|malformed|invalid/);
        tried++;
      }
      expect(tried).toBeGreaterThan(250);
    });
  });
});

describe("the token's building blocks", () => {
  it('base64url round-trips every length', () => {
    for (let n = 0; n < 70; n++) {
      const b = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
      expect(fromBase64url(base64url(b))).toEqual(b);
    }
  });

  it("base64url is RFC 4648's (Node's Buffer as the judge), and refuses characters outside its alphabet", () => {
    for (let n = 0; n < 70; n++) {
      const b = Uint8Array.from({ length: n }, (_, i) => (i * 101 + n * 7 + 13) & 255);
      expect(base64url(b)).toBe(Buffer.from(b).toString('base64url'));
      expect(fromBase64url(Buffer.from(b).toString('base64url'))).toEqual(b);
    }
    for (const bad of ['A', 'AB+/', 'AB==', 'A B', 'ÿÿÿÿ', 'AAAAA']) expect(fromBase64url(bad), bad).toBeNull();
  });

  it('CRC-32 is the standard one (IEEE 802.3, the check value of "123456789" and others), for every length', () => {
    const enc = new TextEncoder();
    expect(crc32(enc.encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(enc.encode('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
    // A bitwise reference, over lengths that exercise the 8-byte steps and every tail.
    const reference = (b: Uint8Array) => {
      let c = 0xffffffff;
      for (const x of b) {
        c ^= x;
        for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
      }
      return (c ^ 0xffffffff) >>> 0;
    };
    for (let n = 0; n < 40; n++) {
      const b = Uint8Array.from({ length: n }, (_, i) => (i * 59 + n * 3 + 1) & 255);
      expect(crc32(b), `length ${n}`).toBe(reference(b));
    }
  });

  it('HMAC-SHA-256 matches RFC 4231 test case 2', () => {
    const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    const enc = new TextEncoder();
    expect(hex(hmacSha256(enc.encode('Jefe'), enc.encode('what do ya want for nothing?')))).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });
});

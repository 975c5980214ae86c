/**
 * Generation state as a value: what a sampling generation needs to go on exactly where it
 * stopped — on this runtime or another — as one opaque, versioned token.
 *
 *   token   = "drc1." base64url(payload ‖ checksum ‖ [hmac])
 *   payload = the fields of `Continuation`, little-endian (layout in `write`/`read` below)
 *   checksum = CRC-32(payload)                corruption → 400
 *   hmac     = HMAC-SHA-256(secret, payload) present when the maker had CONTINUATION_SECRET
 *
 * The recurrent state travels as the kernel holds it (float32 bits, every layer's h, then every
 * LSTM layer's c), so the text that follows is the text an uninterrupted generation writes. The
 * token is checked field by field on the way in: whatever a client sends, a bad token is a 400
 * (OptionError), never a fault inside the engine.
 */
import { GENERATE_FIELDS, MAX_STOP_CHARS, MAX_STOP_SEQUENCES, checkField, LIBRARY_LIMITS, TAIL_CHARS, type FieldSpec, type Limits } from './contract.ts';
import { OptionError } from './errors.ts';
import type { Model } from './model.ts';
import { hmacSha256, toHex } from './sha256.ts';

export const CONTINUATION_VERSION = 1;
const PREFIX = `drc${CONTINUATION_VERSION}.`;
const CHECKSUM_BYTES = 4;
const HMAC_BYTES = 32;

/** The sampler's settings, fixed for a generation and all its continuations. */
export interface ContinuationSettings {
  temperature: number;
  topK?: number;
  topP?: number;
  /** As the model reads them (after its preprocessing). */
  stop: string[];
  author?: string;
  logprobs: number;
}

export interface Continuation {
  model: string;
  /** SHA-256 of the weights (hex): a token resumes on these weights only. */
  weightsSha256: string;
  seed: number;
  /** The sampler's xoshiro128** state. */
  rng: number[];
  /** Ids still to feed before the next character is chosen, in order (never empty): the last character, after the unread rest of a prefix a budget cut. */
  feed: number[];
  /** Characters generated so far, over every slice. */
  generated: number;
  /** Characters the request that made this token still wanted (0 when it ended on its own numChars). */
  remaining: number;
  settings: ContinuationSettings;
  /** The last characters of prefix + text (where paragraphs start, for author tags). */
  textTail: string;
  /** The last characters generated since the user last wrote (what stop sequences match). */
  stopTail: string;
  /** Per layer h, then (LSTM) per layer c: numLayers · hiddenSize each, float32. */
  state: Float32Array;
  /** Under a constraint: its name (kind and digest) and the parser's state (shared/constraint/automaton.ts). */
  constraint?: ContinuationConstraint;
}

export interface ContinuationConstraint {
  name: string;
  /** Stacks of grammar positions, bottom first. */
  stacks: number[][];
}
/** Bounds of a token's constraint state: what a parser state may hold. */
const MAX_TOKEN_STACKS = 4096;
const MAX_STACK_DEPTH = 100_000;

/** Floats of recurrent state a model's continuation holds. */
export function stateLength(model: Model): number {
  const { numLayers: L, hiddenSize: H, cell } = model.arch;
  return L * H * (cell === 'lstm' ? 2 : 1);
}

// ---------------------------------------------------------------------------------------------
// Bytes

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

class Writer {
  private buf: Uint8Array;
  private view: DataView;
  length = 0;
  /** `size`: the bytes expected (it grows past them when needed). */
  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }
  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    bigger.set(this.buf);
    this.buf = bigger;
    this.view = new DataView(bigger.buffer);
  }
  u8(v: number): void {
    this.room(1);
    this.view.setUint8(this.length++, v);
  }
  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  f64(v: number): void {
    this.room(8);
    this.view.setFloat64(this.length, v, true);
    this.length += 8;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  /** float32 values, little-endian whatever the host (their bits as they are: states are finite). */
  f32s(values: Float32Array): void {
    this.room(values.length * 4);
    for (let i = 0; i < values.length; i++) this.view.setFloat32(this.length + 4 * i, values[i], true);
    this.length += values.length * 4;
  }
  str(s: string): void {
    const b = utf8.encode(s);
    this.u32(b.length);
    this.bytes(b);
  }
  done(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

const malformed = () => new OptionError('continuation is malformed: send the token exactly as a response returned it');

class Reader {
  private at = 0;
  private readonly view: DataView;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number): void {
    if (this.at + n > this.buf.length) throw malformed();
  }
  u8(): number {
    this.need(1);
    return this.view.getUint8(this.at++);
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.at, true);
    this.at += 8;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const b = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }
  /** A string of at most `max` bytes. */
  str(max: number): string {
    const n = this.u32();
    if (n > max) throw malformed();
    try {
      return fromUtf8.decode(this.bytes(n));
    } catch {
      throw malformed();
    }
  }
  /** `n` float32 values, little-endian. */
  f32s(n: number): Float32Array {
    this.need(n * 4);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.view.getFloat32(this.at + 4 * i, true);
    this.at += n * 4;
    return out;
  }
  get done(): boolean {
    return this.at === this.buf.length;
  }
}

// base64url by table: a continuation holds every layer's state (8 KB for 2 × 256 LSTM), and
// btoa/atob over a binary string cost a Workers request ~50 µs each way (measured).
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64_CODE = Uint8Array.from(B64, (c) => c.charCodeAt(0));
/** char code → 6-bit value, 255 for a character outside base64url. */
const B64_VALUE = new Uint8Array(256).fill(255);
for (let i = 0; i < 64; i++) B64_VALUE[B64_CODE[i]] = i;

/** Bytes → base64url without padding. */
export function base64url(bytes: Uint8Array): string {
  const n = bytes.length;
  const out = new Uint8Array(Math.ceil((n * 4) / 3));
  let o = 0;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out[o++] = B64_CODE[v >>> 18];
    out[o++] = B64_CODE[(v >>> 12) & 63];
    out[o++] = B64_CODE[(v >>> 6) & 63];
    out[o++] = B64_CODE[v & 63];
  }
  if (i < n) {
    const v = (bytes[i] << 16) | (i + 1 < n ? bytes[i + 1] << 8 : 0);
    out[o++] = B64_CODE[v >>> 18];
    out[o++] = B64_CODE[(v >>> 12) & 63];
    if (i + 1 < n) out[o++] = B64_CODE[(v >>> 6) & 63];
  }
  return fromUtf8.decode(out); // ASCII: nothing for the fatal decoder to refuse
}

/** base64url (unpadded, as `base64url` writes it; the unused low bits of the last character are ignored, as atob does) → bytes, or null when it is not base64url. */
export function fromBase64url(s: string): Uint8Array | null {
  const n = s.length;
  if (n % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((n * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    const v = c < 256 ? B64_VALUE[c] : 255;
    if (v === 255) return null;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 255;
    }
  }
  return out;
}

// CRC-32 sliced by 8 (tables k = 0..7 at k · 256): eight bytes per round, the same value as a
// byte at a time — 8.5 → 4 µs for a 2 × 256 LSTM's token (measured), paid by every cut-short request.
const CRC_TABLES = new Uint32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLES[n] = c >>> 0;
}
for (let n = 0; n < 256; n++)
  for (let k = 1; k < 8; k++) CRC_TABLES[k * 256 + n] = (CRC_TABLES[(k - 1) * 256 + n] >>> 8) ^ CRC_TABLES[CRC_TABLES[(k - 1) * 256 + n] & 255];
/** CRC-32 (IEEE): catches damage in transit; forgery is the HMAC's job. */
export function crc32(bytes: Uint8Array): number {
  const T = CRC_TABLES;
  let c = 0xffffffff;
  let i = 0;
  for (const n8 = bytes.length - 7; i < n8; i += 8) {
    const a = (c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24))) >>> 0;
    const b = bytes[i + 4] | (bytes[i + 5] << 8) | (bytes[i + 6] << 16) | (bytes[i + 7] << 24);
    c =
      T[1792 + (a & 255)] ^
      T[1536 + ((a >>> 8) & 255)] ^
      T[1280 + ((a >>> 16) & 255)] ^
      T[1024 + (a >>> 24)] ^
      T[768 + (b & 255)] ^
      T[512 + ((b >>> 8) & 255)] ^
      T[256 + ((b >>> 16) & 255)] ^
      T[b >>> 24];
  }
  for (; i < bytes.length; i++) c = T[(c ^ bytes[i]) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
const checksum = (payload: Uint8Array) => {
  const out = new Uint8Array(CHECKSUM_BYTES);
  new DataView(out.buffer).setUint32(0, crc32(payload), true);
  return out;
};

const fromHex = (s: string) => {
  const out = new Uint8Array(s.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
};
/** Equal bytes, compared in constant time (a signature check must not say how much of it matched). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

// ---------------------------------------------------------------------------------------------
// Token ↔ value

/** A continuation → its token; signed with HMAC-SHA-256 when `secret` is given. */
export function encodeContinuation(c: Continuation, secret?: string): string {
  // The state is most of it; 1 KB more covers the rest of a usual token.
  const w = new Writer(c.state.length * 4 + 1024);
  w.u8(secret ? 1 : 0); // flags: bit 0, signed
  w.str(c.model);
  w.bytes(fromHex(c.weightsSha256));
  w.u32(c.seed);
  for (let i = 0; i < 4; i++) w.u32(c.rng[i]);
  w.u32(c.feed.length);
  for (const id of c.feed) w.u32(id);
  w.u32(c.generated);
  w.u32(c.remaining);
  const s = c.settings;
  w.f64(s.temperature);
  w.u32(s.topK ?? 0);
  w.f64(s.topP ?? 0);
  w.u8(s.logprobs);
  w.str(s.author ?? '');
  w.u8(s.stop.length);
  for (const x of s.stop) w.str(x);
  w.str(c.textTail);
  w.str(c.stopTail);
  w.u32(c.state.length);
  w.f32s(c.state);
  // A constrained generation's parser state follows the recurrent state (absent: unconstrained).
  if (c.constraint) {
    w.str(c.constraint.name);
    w.u32(c.constraint.stacks.length);
    for (const st of c.constraint.stacks) {
      w.u32(st.length);
      for (const pos of st) w.u32(pos);
    }
  }
  const payload = w.done();
  const out = new Uint8Array(payload.length + CHECKSUM_BYTES + (secret ? HMAC_BYTES : 0));
  out.set(payload);
  out.set(checksum(payload), payload.length);
  if (secret) out.set(hmacSha256(utf8.encode(secret), payload), payload.length + CHECKSUM_BYTES);
  return PREFIX + base64url(out);
}

/**
 * A token → its continuation, checked: the version, the checksum, the signature (required when
 * `secret` is set; `limits` are the caller's (a server's API holds a token to its own bounds: the
 * prefix it may still read, the characters it may still ask for). A signed token read without a secret — a page's library — is taken on its
 * checksum), and every field's type and range. The model-specific checks are `checkContinuation`'s.
 */
export function decodeContinuation(token: string, secret?: string, limits: Limits = LIBRARY_LIMITS): Continuation {
  const m = /^drc(\d+)\.([A-Za-z0-9_-]*)$/.exec(token);
  if (!m) throw new OptionError('continuation is not a deeprnn continuation token (one starts with "drc1."): send the token exactly as a response returned it');
  if (Number(m[1]) !== CONTINUATION_VERSION)
    throw new OptionError(`continuation is in format version ${m[1]}; this version of deeprnn reads version ${CONTINUATION_VERSION}`);
  const bytes = fromBase64url(m[2]);
  if (!bytes || bytes.length < 1 + CHECKSUM_BYTES) throw malformed();
  const signed = (bytes[0] & 1) === 1;
  if (bytes[0] > 1) throw malformed();
  const end = bytes.length - CHECKSUM_BYTES - (signed ? HMAC_BYTES : 0);
  if (end < 1) throw malformed();
  const payload = bytes.subarray(0, end);
  if (!sameBytes(checksum(payload), bytes.subarray(end, end + CHECKSUM_BYTES))) {
    throw new OptionError('continuation is damaged (its checksum does not match): send the token exactly as a response returned it');
  }
  if (secret) {
    if (!signed) throw new OptionError('continuation is not signed, and this server only resumes the continuations it signed');
    if (!sameBytes(hmacSha256(utf8.encode(secret), payload), bytes.subarray(end + CHECKSUM_BYTES))) {
      throw new OptionError('continuation is not signed by this server: its signature does not match (or CONTINUATION_SECRET changed)');
    }
  }
  const r = new Reader(payload);
  r.u8();
  const model = r.str(128);
  const weightsSha256 = toHex(r.bytes(32));
  const seed = r.u32();
  const rng = [r.u32(), r.u32(), r.u32(), r.u32()];
  const nFeed = r.u32();
  if (nFeed < 1 || nFeed > limits.maxPrefixChars + 2) throw malformed();
  const feed = Array.from({ length: nFeed }, () => r.u32());
  const generated = r.u32();
  const remaining = r.u32();
  const temperature = r.f64();
  const topK = r.u32();
  const topP = r.f64();
  const logprobs = r.u8();
  const author = r.str(256);
  const nStop = r.u8();
  if (nStop > MAX_STOP_SEQUENCES) throw malformed();
  const stop = Array.from({ length: nStop }, () => r.str(MAX_STOP_CHARS * 4));
  const textTail = r.str(TAIL_CHARS * 4);
  const stopTail = r.str(TAIL_CHARS * 4);
  const nState = r.u32();
  if (nState > 1 << 24) throw malformed();
  const state = r.f32s(nState);
  let constraint: ContinuationConstraint | undefined;
  if (!r.done) {
    const name = r.str(128);
    const nStacks = r.u32();
    if (name === '' || nStacks < 1 || nStacks > MAX_TOKEN_STACKS) throw malformed();
    const stacks = Array.from({ length: nStacks }, () => {
      const depth = r.u32();
      if (depth > MAX_STACK_DEPTH) throw malformed();
      return Array.from({ length: depth }, () => r.u32());
    });
    constraint = { name, stacks };
  }
  if (!r.done) throw malformed();

  // Every field within what a generation request may hold: a token is input like any other.
  const field = (name: string, spec: FieldSpec, v: unknown) => {
    try {
      checkField(name, spec, v, limits);
    } catch {
      throw new OptionError(
        `continuation is invalid: it holds temperature/topK/topP/logprobs/stop/author out of bounds (invalid ${name} ${JSON.stringify(v)})`,
      );
    }
  };
  field('temperature', GENERATE_FIELDS.temperature, temperature);
  if (topK !== 0) field('topK', GENERATE_FIELDS.topK, topK);
  if (topP !== 0) field('topP', GENERATE_FIELDS.topP, topP);
  field('logprobs', GENERATE_FIELDS.logprobs, logprobs);
  if (stop.length) field('stop', GENERATE_FIELDS.stop, stop);
  if (author) field('author', GENERATE_FIELDS.author, author);
  if (remaining > limits.maxNumChars) throw new OptionError(`continuation is invalid: it holds a remaining count of ${remaining}`);
  if (rng.every((x) => x === 0)) throw new OptionError('continuation is invalid: its sampler state is all zeros');
  if ([...textTail].length > TAIL_CHARS || [...stopTail].length > TAIL_CHARS) throw malformed();
  for (let i = 0; i < state.length; i++)
    if (!Number.isFinite(state[i])) throw new OptionError(`continuation is invalid: its recurrent state holds a non-finite value at ${i}`);
  const settings: ContinuationSettings = { temperature, stop, logprobs };
  if (topK !== 0) settings.topK = topK;
  if (topP !== 0) settings.topP = topP;
  if (author) settings.author = author;
  const c: Continuation = { model, weightsSha256, seed, rng, feed, generated, remaining, settings, textTail, stopTail, state };
  if (constraint) c.constraint = constraint;
  return c;
}

/** What a model made in memory (never saved, so never hashed) names as its weights. */
const UNSAVED = '0'.repeat(64);
/** The weights a model's continuations name: SHA-256 of weights.bin. */
export const weightsDigest = (model: Model): string => {
  const sha = model.weightsSha256 ?? UNSAVED;
  // A 7-bit rendition writes other texts than the int16 one of the same weights: its tokens name
  // the weights' SHA-256 with the last byte xored with 7, so neither resumes the other's.
  if (model.stateBits !== 7) return sha;
  return sha.slice(0, 62) + (parseInt(sha.slice(62), 16) ^ 7).toString(16).padStart(2, '0');
};
const short = (sha: string) => (sha === UNSAVED ? 'unsaved' : sha.slice(0, 12));

/**
 * A decoded continuation against the model asked to resume it: the same model and weights, a
 * state of the model's size (hidden states within tanh's range), ids in its vocabulary, an
 * author it knows, stop sequences in its alphabet.
 */
export function checkContinuation(c: Continuation, model: Model): void {
  const mine = weightsDigest(model);
  if (c.model !== model.name || c.weightsSha256 !== mine) {
    throw new OptionError(
      `continuation is from model ${JSON.stringify(c.model)} (weights ${short(c.weightsSha256)}), not from ${JSON.stringify(model.name)} (weights ${short(mine)}): resume it on the model that made it`,
    );
  }
  const n = stateLength(model);
  if (c.state.length !== n) throw new OptionError(`continuation is invalid: its recurrent state has ${c.state.length} values; model ${model.name} has ${n}`);
  const hs = model.arch.numLayers * model.arch.hiddenSize;
  for (let i = 0; i < hs; i++)
    if (Math.abs(c.state[i]) > 1) throw new OptionError(`continuation is invalid: its hidden state holds ${c.state[i]} at ${i}, outside [-1, 1]`);
  const V = model.arch.vocabSize;
  for (const id of c.feed) if (id >= V) throw new OptionError(`continuation is invalid: it holds token id ${id}, outside the vocabulary of ${V}`);
  if (c.settings.author !== undefined && !model.vocab.authors.has(c.settings.author))
    throw new OptionError(`continuation is invalid: it asks for author ${JSON.stringify(c.settings.author)}, whom model ${model.name} does not know`);
  for (const s of c.settings.stop)
    for (const ch of s)
      if (!model.vocab.has(ch))
        throw new OptionError(`continuation is invalid: it holds a stop sequence with ${JSON.stringify(ch)}, which model ${model.name} cannot write`);
}

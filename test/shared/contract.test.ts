/**
 * The contract's helpers against exact expected strings and values: what a client reads in an
 * error, what the CLI and the element parse, what a result looks like, field by field.
 */
import { describe, expect, it } from 'vitest';
import {
  appendTail,
  attributeName,
  checkField,
  checkRequest,
  describeBounds,
  errorBody,
  errorParam,
  errorType,
  excerpt,
  fromStrings,
  GENERATE_FIELDS,
  generateResult,
  LIBRARY_LIMITS,
  maxOf,
  nearestName,
  optionName,
  quote,
  SCORE_FIELDS,
  SERVICE_LIMITS,
  TAIL_CHARS,
  type FieldSpec,
} from '../../shared/contract.ts';
import { OptionError } from '../../shared/errors.ts';

describe('quote: a client value in one short line', () => {
  it('strings up to 60 characters whole, longer ones cut with their length; other values as JSON', () => {
    expect(quote('a'.repeat(60))).toBe(JSON.stringify('a'.repeat(60)));
    expect(quote('a'.repeat(61))).toBe(`${JSON.stringify('a'.repeat(60))}… (61 characters)`);
    expect(quote(5)).toBe('5');
    expect(quote(null)).toBe('null');
    expect(quote(undefined)).toBe('undefined');
    expect(quote(true)).toBe('true');
    expect(quote(() => 1)).toBe('() => 1');
  });

  it('lists and objects: five items or keys, then a count; two levels deep, then … ; the whole cut at 240', () => {
    expect(quote([1, 2, 3, 4, 5])).toBe('[1,2,3,4,5]');
    expect(quote([1, 2, 3, 4, 5, 6])).toBe('[1,2,3,4,5,… (6 items)]');
    expect(quote({ a: 1, b: 2, c: 3, d: 4, e: 5 })).toBe('{"a":1,"b":2,"c":3,"d":4,"e":5}');
    expect(quote({ a: 1, b: 2, c: 3, d: 4, e: 5, f: 6 })).toBe('{"a":1,"b":2,"c":3,"d":4,"e":5,… (6 keys)}');
    expect(quote([[[1]]])).toBe('[[[…]]]');
    expect(quote([[[]]])).toBe('[[[]]]');
    expect(quote({ a: { b: { c: 1 } } })).toBe('{"a":{"b":{…}}}');
    expect(quote({ a: { b: {} } })).toBe('{"a":{"b":{}}}');
    const long = quote(Array.from({ length: 5 }, () => 'x'.repeat(60)));
    expect(long.length).toBe(241);
    expect(long.endsWith('…')).toBe(true);
    expect(quote(['x'.repeat(40)]).length).toBeLessThan(240);
  });

  it('excerpt: a name cut the same way, without quotes', () => {
    expect(excerpt('b'.repeat(60))).toBe('b'.repeat(60));
    expect(excerpt('b'.repeat(61))).toBe(`${'b'.repeat(60)}… (61 characters)`);
  });
});

describe('names: kebab-case options and attributes, and the nearest known name', () => {
  it('kebab-case, and an option of its own where the spec names one', () => {
    expect(attributeName('numChars')).toBe('num-chars');
    expect(attributeName('returnContinuation')).toBe('return-continuation');
    expect(optionName('topK', GENERATE_FIELDS.topK)).toBe('top-k');
    expect(optionName('continuation', GENERATE_FIELDS.continuation)).toBe('continue');
  });

  it('a near miss is suggested; a name too far or of another length is not', () => {
    const known = ['prefix', 'numChars', 'temperature', 'seed'];
    expect(nearestName('prefx', known)).toBe('prefix');
    expect(nearestName('temprature', known)).toBe('temperature');
    expect(nearestName('sed', known)).toBe('seed');
    expect(nearestName('xyz', known)).toBeUndefined();
    expect(nearestName('numchars', known)).toBe('numChars'); // case does not count
    expect(nearestName('temperatureXYZ', known)).toBe('temperature'); // 3 longer: a third of 11 allows it
    expect(nearestName('temperatureXYZW', known)).toBeUndefined(); // 4 longer: never compared
    expect(nearestName('tempXrature', known)).toBe('temperature');
    expect(nearestName('tmpXrXture', known)).toBe('temperature'); // distance 3 = floor(11 / 3)
    expect(nearestName('tmXXrXture', known)).toBeUndefined(); // distance 4
    expect(nearestName('pre', ['pre', 'prx'])).toBe('pre');
  });
});

describe('bounds: what each kind of field accepts, in words and in checks', () => {
  const L = SERVICE_LIMITS;
  it('describeBounds and maxOf for every kind', () => {
    expect(describeBounds(GENERATE_FIELDS.prefix, L)).toBe('a string of 1 to 1000 characters');
    expect(describeBounds(GENERATE_FIELDS.stop, L)).toBe('a list of at most 4 strings of 1 to 32 characters');
    expect(describeBounds(GENERATE_FIELDS.stream, L)).toBe('true or false');
    expect(describeBounds(GENERATE_FIELDS.numChars, L)).toBe('a whole number in [1, 2000]');
    expect(describeBounds(GENERATE_FIELDS.numChars, LIBRARY_LIMITS)).toBe('a whole number in [1, 100000]');
    expect(describeBounds(GENERATE_FIELDS.topP, L)).toBe('a number in (0, 1]');
    expect(describeBounds(GENERATE_FIELDS.temperature, L)).toBe('a number in [0, 100]');
    expect(describeBounds(GENERATE_FIELDS.constraint, L)).toMatch(/^an object with exactly one of regex/);
    expect(maxOf(GENERATE_FIELDS.stream, L)).toBe(1);
    expect(maxOf(GENERATE_FIELDS.constraint, L)).toBe(1);
    expect(maxOf(GENERATE_FIELDS.stop, L)).toBe(32);
    expect(maxOf(GENERATE_FIELDS.prefix, L)).toBe(1000);
    expect(maxOf(GENERATE_FIELDS.seed, L)).toBe(0xffffffff);
  });

  it('checkField at each bound, in and out', () => {
    const ok = (name: string, spec: FieldSpec, v: unknown) => expect(() => checkField(name, spec, v, L), `${name} ${quote(v)}`).not.toThrow();
    const bad = (name: string, spec: FieldSpec, v: unknown) => expect(() => checkField(name, spec, v, L), `${name} ${quote(v)}`).toThrow(OptionError);
    ok('prefix', GENERATE_FIELDS.prefix, 'a'.repeat(1000));
    bad('prefix', GENERATE_FIELDS.prefix, 'a'.repeat(1001));
    ok('prefix', GENERATE_FIELDS.prefix, '🙂'.repeat(1000)); // 2000 code units, 1000 characters
    bad('prefix', GENERATE_FIELDS.prefix, '');
    bad('prefix', GENERATE_FIELDS.prefix, 5);
    ok('stop', GENERATE_FIELDS.stop, ['a', 'b', 'c', 'd']);
    bad('stop', GENERATE_FIELDS.stop, ['a', 'b', 'c', 'd', 'e']);
    ok('stop', GENERATE_FIELDS.stop, ['x'.repeat(32)]);
    bad('stop', GENERATE_FIELDS.stop, ['x'.repeat(33)]);
    bad('stop', GENERATE_FIELDS.stop, ['ok', '']);
    bad('stop', GENERATE_FIELDS.stop, ['ok', 5]);
    bad('stop', GENERATE_FIELDS.stop, 'ok');
    ok('stream', GENERATE_FIELDS.stream, false);
    bad('stream', GENERATE_FIELDS.stream, 'true');
    ok('numChars', GENERATE_FIELDS.numChars, 2000);
    bad('numChars', GENERATE_FIELDS.numChars, 2001);
    ok('numChars', GENERATE_FIELDS.numChars, 1);
    bad('numChars', GENERATE_FIELDS.numChars, 0);
    bad('numChars', GENERATE_FIELDS.numChars, 1.5);
    bad('numChars', GENERATE_FIELDS.numChars, '5');
    ok('temperature', GENERATE_FIELDS.temperature, 0);
    ok('temperature', GENERATE_FIELDS.temperature, 100);
    bad('temperature', GENERATE_FIELDS.temperature, 100.5);
    bad('temperature', GENERATE_FIELDS.temperature, -0.1);
    bad('temperature', GENERATE_FIELDS.temperature, Number.NaN);
    bad('temperature', GENERATE_FIELDS.temperature, '1');
    ok('topP', GENERATE_FIELDS.topP, 1);
    bad('topP', GENERATE_FIELDS.topP, 0);
    ok('topP', GENERATE_FIELDS.topP, 1e-9);
    expect(() => checkField('numChars', GENERATE_FIELDS.numChars, 0, L)).toThrow('numChars must be a whole number in [1, 2000], got 0');
  });
});

describe('checkRequest: the shape of a request', () => {
  const L = SERVICE_LIMITS;
  it('not an object; an unknown field named, with the field it nearly is or the list; a missing required one', () => {
    for (const raw of [null, [], 'x', 5]) expect(() => checkRequest(GENERATE_FIELDS, raw, L)).toThrow('the request must be a JSON object');
    expect(() => checkRequest(GENERATE_FIELDS, { prefx: 'a', numChars: 5 }, L)).toThrow('prefx is not a field; did you mean prefix?');
    expect(() => checkRequest(SCORE_FIELDS, { zzz: 1 }, L)).toThrow('zzz is not a field (fields: text, author, model)');
    expect(() => checkRequest(GENERATE_FIELDS, { numChars: 5 }, L)).toThrow(
      'prefix is required (unless continuation is given): a string of 1 to 1000 characters',
    );
    expect(() => checkRequest(SCORE_FIELDS, {}, L)).toThrow('text is required: a string of 1 to 10000 characters');
    expect(checkRequest(GENERATE_FIELDS, { continuation: 'drc1.x' }, L)).toEqual({ continuation: 'drc1.x' });
    // The library fills defaults later: nothing is required there.
    expect(checkRequest(GENERATE_FIELDS, {}, L, 'library')).toEqual({});
  });
});

describe('fromStrings: CLI options and element attributes', () => {
  const name = (f: string) => `--${f}`;
  it('each kind from its text; repeated options as a list, the last of a single one', () => {
    expect(
      fromStrings(
        GENERATE_FIELDS,
        { prefix: 'a b', stop: ['x', 'y'], numChars: ' 12 ', temperature: '0.5', stream: '', seed: '-3', constraint: '{"regex":"a"}' },
        name,
      ),
    ).toEqual({ prefix: 'a b', stop: ['x', 'y'], numChars: 12, temperature: 0.5, stream: true, seed: -3, constraint: { regex: 'a' } });
    expect(fromStrings(GENERATE_FIELDS, { stop: 'x', numChars: ['3', '4'], stream: 'false' }, name)).toEqual({ stop: ['x'], numChars: 4, stream: false });
    expect(fromStrings(GENERATE_FIELDS, { stream: 'true' }, name)).toEqual({ stream: true });
  });

  it('a bad value names the option as its user wrote it, and what it takes', () => {
    expect(() => fromStrings(GENERATE_FIELDS, { numChars: '1.5' }, name)).toThrow('--numChars must be a whole number in [1, 100000], got "1.5"');
    expect(() => fromStrings(GENERATE_FIELDS, { numChars: '' }, name)).toThrow(/--numChars must be a whole number/);
    expect(() => fromStrings(GENERATE_FIELDS, { numChars: '5x' }, name)).toThrow(/--numChars must be/);
    expect(() => fromStrings(GENERATE_FIELDS, { numChars: 'x5' }, name)).toThrow(/--numChars must be/);
    expect(() => fromStrings(GENERATE_FIELDS, { temperature: '' }, name)).toThrow('--temperature must be a number in [0, 100], got ""');
    expect(() => fromStrings(GENERATE_FIELDS, { temperature: ' ' }, name)).toThrow(/--temperature must be/);
    expect(() => fromStrings(GENERATE_FIELDS, { temperature: 'Infinity' }, name)).toThrow(/--temperature must be/);
    expect(() => fromStrings(GENERATE_FIELDS, { stream: 'yes' }, name)).toThrow('--stream must be true or false, got "yes"');
  });
});

describe('results and errors', () => {
  it('generateResult: the text is prefix + generated, numChars counts characters, optional fields only when set, in one order', () => {
    const r = generateResult({ model: 'm', prefix: 'ab', generated: 'c🙂', seed: 1, finishReason: 'length', timings: { totalMs: 2 } });
    expect(r).toEqual({ model: 'm', prefix: 'ab', text: 'abc🙂', generated: 'c🙂', numChars: 2, seed: 1, finishReason: 'length', timings: { totalMs: 2 } });
    expect(Object.keys(r)).toEqual(['model', 'prefix', 'text', 'generated', 'numChars', 'seed', 'finishReason', 'timings']);
    const full = generateResult({
      model: 'm',
      prefix: '',
      generated: 'x',
      seed: 1,
      finishReason: 'stop',
      timings: { totalMs: 0 },
      author: 'doyle',
      logprobs: [],
      beams: [],
      continuation: 'drc1.x',
    });
    expect(Object.keys(full)).toEqual([
      'model',
      'prefix',
      'text',
      'generated',
      'numChars',
      'seed',
      'finishReason',
      'timings',
      'author',
      'logprobs',
      'beams',
      'continuation',
    ]);
  });

  it("error bodies: OpenAI's type per status, the field at fault from the message", () => {
    expect(errorBody('c', 'm')).toEqual({ error: { code: 'c', message: 'm' } });
    expect(errorBody('c', 'm', { type: 't', param: null })).toEqual({ error: { code: 'c', message: 'm', type: 't', param: null } });
    expect([401, 403, 429, 500, 503, 400, 404, 413].map(errorType)).toEqual([
      'authentication_error',
      'permission_error',
      'rate_limit_error',
      'server_error',
      'server_error',
      'invalid_request_error',
      'invalid_request_error',
      'invalid_request_error',
    ]);
    expect(errorParam('numChars must be a whole number')).toBe('numChars');
    expect(errorParam('stop[1] "x" can never be generated')).toBe('stop');
    expect(errorParam('prefix is empty')).toBe('prefix');
    expect(errorParam('constraint jsonSchema at #/a keyword "format" is not supported')).toBe('constraint');
    expect(errorParam('constraint has no match')).toBe('constraint');
    expect(errorParam('structured_outputs grammar line 1: expected a rule definition (name ::= …)')).toBe('structured_outputs');
    expect(errorParam('the request must be a JSON object')).toBeNull();
  });

  it('appendTail keeps the last TAIL_CHARS characters of what was read and written', () => {
    expect(appendTail('ab', 'cd')).toBe('abcd');
    expect(appendTail('x'.repeat(TAIL_CHARS), 'yz')).toBe(`${'x'.repeat(TAIL_CHARS - 2)}yz`);
  });
});

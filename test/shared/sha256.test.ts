import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Sha256Js } from '../../shared/sha256.ts';

describe("Sha256Js (the page's SHA-256)", () => {
  it("gives node:crypto's digest for every length around the block boundaries, fed in pieces", () => {
    for (const n of [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 1000, 65_537]) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 255);
      const h = new Sha256Js();
      for (let at = 0; at < n; at += 37) h.update(data.subarray(at, at + 37));
      expect(h.digest(), `${n} bytes`).toBe(createHash('sha256').update(data).digest('hex'));
    }
    expect(new Sha256Js().digest()).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});

/**
 * /favicon.ico, drawn here rather than shipped as a binary: a 16×16 icon (one 32-bit BMP image
 * in an ICO container) — a blue disc with three white bars, a stack of recurrent layers.
 */
const SIZE = 16;

export function faviconIco(): Uint8Array {
  const pixels = SIZE * SIZE * 4;
  const mask = SIZE * 4; // 1-bit AND mask, rows padded to 32 bits (all 0: the alpha channel rules)
  const image = 40 + pixels + mask;
  const out = new Uint8Array(6 + 16 + image);
  const v = new DataView(out.buffer);
  // ICONDIR: reserved, type 1 (icon), one image.
  v.setUint16(2, 1, true);
  v.setUint16(4, 1, true);
  // ICONDIRENTRY: 16×16, no palette, 1 plane, 32 bpp, size, offset.
  out[6] = SIZE;
  out[7] = SIZE;
  v.setUint16(10, 1, true);
  v.setUint16(12, 32, true);
  v.setUint32(14, image, true);
  v.setUint32(18, 22, true);
  // BITMAPINFOHEADER: the height counts the image and its mask.
  const h = 22;
  v.setUint32(h, 40, true);
  v.setInt32(h + 4, SIZE, true);
  v.setInt32(h + 8, SIZE * 2, true);
  v.setUint16(h + 12, 1, true);
  v.setUint16(h + 14, 32, true);
  v.setUint32(h + 20, pixels + mask, true);
  // Pixels, BGRA, bottom row first.
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const dx = x + 0.5 - SIZE / 2;
      const dy = y + 0.5 - SIZE / 2;
      const inside = dx * dx + dy * dy <= (SIZE / 2) * (SIZE / 2);
      const bar = x >= 4 && x <= 11 && (y === 4 || y === 7 || y === 10);
      const at = h + 40 + ((SIZE - 1 - y) * SIZE + x) * 4;
      if (!inside) continue;
      const [r, g, b] = bar ? [255, 255, 255] : [0x1f, 0x6f, 0xeb];
      out[at] = b;
      out[at + 1] = g;
      out[at + 2] = r;
      out[at + 3] = 255;
    }
  }
  return out;
}

/**
 * The perplexity-per-epoch plot (train and validation): the run's perplexity.svg in Node, and the
 * live chart of <deeprnn-train> in a page. Plain SVG written here — two lines on a log scale,
 * axes, ticks, a legend — so a page's chart costs a few kilobytes (Vega-Lite's chunk was 817 kB)
 * and draws under a strict Content-Security-Policy: no script, no styles from outside.
 */
import type { EpochRecord } from './checkpoint.ts';

type Point = Pick<EpochRecord, 'epoch' | 'perplexity' | 'validationPerplexity'>;

const SERIES = [
  { name: 'train', color: '#1f77b4', value: (p: Point) => p.perplexity },
  { name: 'validation', color: '#ff7f0e', value: (p: Point) => p.validationPerplexity },
] as const;
const FONT = 'font-family="sans-serif" font-size="11" fill="#333"';

/** Text safe inside SVG. */
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
/** A coordinate, short. */
const f = (x: number) => (Math.round(x * 10) / 10).toString();

/** Nice ticks for a linear axis from lo to hi: steps of 1, 2 or 5 × 10^k, at most about `count`. */
function linearTicks(lo: number, hi: number, count: number, integers: boolean): number[] {
  const span = hi - lo || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  if (integers) step = Math.max(1, Math.round(step));
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) out.push(+t.toPrecision(12));
  return out;
}

/** Ticks for a log axis: 1, 2, 5 × 10^k inside [lo, hi]; a range within one decade gets linear steps. */
function logTicks(lo: number, hi: number): number[] {
  if (hi / lo < 10) return linearTicks(lo, hi, 8, false).filter((t) => t > 0);
  const out: number[] = [];
  for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++)
    for (const m of [1, 2, 5]) {
      const t = m * 10 ** k;
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) out.push(+t.toPrecision(12));
    }
  return out.length >= 2 ? out : [lo, hi];
}

export async function perplexityPlot(records: readonly Point[], title: string, size = { width: 560, height: 300 }): Promise<string> {
  const margin = { left: 56, right: 100, top: 30, bottom: 40 };
  const W = size.width + margin.left + margin.right;
  const H = size.height + margin.top + margin.bottom;
  const values = records.flatMap((r) => SERIES.map((s) => s.value(r)).filter((v): v is number => v !== null && Number.isFinite(v) && v > 0));
  const epochs = records.map((r) => r.epoch);
  const x0 = Math.min(0, ...epochs);
  const x1 = Math.max(1, ...epochs);
  const y0 = values.length ? Math.min(...values) : 1;
  const y1 = values.length ? Math.max(...values) : 10;
  // A log scale padded a little at both ends (and opened where every value is the same).
  const ly0 = Math.log(y0) - (Math.log(y1) - Math.log(y0) || 1) * 0.05;
  const ly1 = Math.log(y1) + (Math.log(y1) - Math.log(y0) || 1) * 0.05;
  const X = (e: number) => margin.left + ((e - x0) / (x1 - x0)) * size.width;
  const Y = (v: number) => margin.top + size.height - ((Math.log(v) - ly0) / (ly1 - ly0)) * size.height;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${f(margin.left + size.width / 2)}" y="18" text-anchor="middle" font-family="sans-serif" font-size="13" font-weight="bold" fill="#000">${esc(title)}</text>`,
  ];
  // Axes and their ticks.
  for (const t of linearTicks(x0, x1, 8, true)) {
    out.push(`<line x1="${f(X(t))}" y1="${f(margin.top)}" x2="${f(X(t))}" y2="${f(margin.top + size.height)}" stroke="#eee"/>`);
    out.push(`<text x="${f(X(t))}" y="${f(margin.top + size.height + 15)}" text-anchor="middle" ${FONT}>${t}</text>`);
  }
  for (const t of logTicks(Math.exp(ly0), Math.exp(ly1))) {
    out.push(`<line x1="${f(margin.left)}" y1="${f(Y(t))}" x2="${f(margin.left + size.width)}" y2="${f(Y(t))}" stroke="#eee"/>`);
    out.push(`<text x="${f(margin.left - 6)}" y="${f(Y(t) + 4)}" text-anchor="end" ${FONT}>${+t.toPrecision(3)}</text>`);
  }
  out.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${size.width}" height="${size.height}" fill="none" stroke="#888"/>`,
    `<text x="${f(margin.left + size.width / 2)}" y="${f(H - 8)}" text-anchor="middle" ${FONT}>epoch</text>`,
    `<text transform="translate(14 ${f(margin.top + size.height / 2)}) rotate(-90)" text-anchor="middle" ${FONT}>perplexity</text>`,
  );
  // The lines, and the legend beside the plot.
  for (const [i, s] of SERIES.entries()) {
    const pts = records.flatMap((r) => {
      const v = s.value(r);
      return v !== null && Number.isFinite(v) && v > 0 ? [`${f(X(r.epoch))},${f(Y(v))}`] : [];
    });
    if (pts.length === 0) continue;
    out.push(
      pts.length === 1
        ? `<circle cx="${pts[0].split(',')[0]}" cy="${pts[0].split(',')[1]}" r="2.5" fill="${s.color}"/>`
        : `<polyline points="${pts.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round"/>`,
    );
    const ly = margin.top + 10 + i * 18;
    out.push(
      `<line x1="${margin.left + size.width + 12}" y1="${ly}" x2="${margin.left + size.width + 30}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`,
      `<text x="${margin.left + size.width + 35}" y="${ly + 4}" ${FONT}>${s.name}</text>`,
    );
  }
  out.push('</svg>');
  return out.join('');
}

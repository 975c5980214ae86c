import { describe, expect, it } from 'vitest';
import { perplexityPlot } from '../../trainer/plot.ts';

/** The points of a polyline of this colour, as numbers. */
const line = (svg: string, color: string) =>
  (new RegExp(`<polyline points="([^"]+)" fill="none" stroke="${color}"`).exec(svg)?.[1] ?? '')
    .split(' ')
    .filter(Boolean)
    .map((p) => p.split(',').map(Number));

describe('the perplexity plot (plain SVG)', () => {
  const records = [
    { epoch: 1, perplexity: 20, validationPerplexity: null },
    { epoch: 2, perplexity: 10, validationPerplexity: 12 },
    { epoch: 3, perplexity: 5, validationPerplexity: 8 },
    { epoch: 4, perplexity: 2.5, validationPerplexity: 6 },
  ];

  it('draws each series through its points on a log scale: equal ratios, equal steps; later epochs to the right', async () => {
    const svg = await perplexityPlot(records, 'run <1> & "two"');
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg).not.toMatch(/<script|style=|href/);
    expect(svg).toContain('run &lt;1&gt; &amp; &quot;two&quot;');
    const train = line(svg, '#1f77b4');
    const validation = line(svg, '#ff7f0e');
    expect(train).toHaveLength(4);
    expect(validation).toHaveLength(3); // the first epoch had no validation
    // Halving the perplexity moves the line down by the same amount each epoch (a log scale; SVG's y grows downwards).
    const dy = train.slice(1).map(([, y], i) => y - train[i][1]);
    for (const d of dy) expect(d).toBeCloseTo(dy[0], 0);
    expect(dy[0]).toBeGreaterThan(0);
    for (let i = 1; i < train.length; i++) expect(train[i][0]).toBeGreaterThan(train[i - 1][0]);
    // Validation above train at each epoch: higher perplexity, higher on the page.
    expect(validation[0][1]).toBeLessThan(train[1][1]);
    expect(svg).toMatch(/>train</);
    expect(svg).toMatch(/>validation</);
    // Ticks on a log axis over more than a decade: 1, 2, 5 × 10^k.
    expect(svg).toMatch(/>5<\/text>/);
    expect(svg).toMatch(/>10<\/text>/);
    expect(svg).toMatch(/>20<\/text>/);
  });

  it('one epoch, or nothing yet, still draws (a point; an empty frame) at the size asked for', async () => {
    const one = await perplexityPlot(records.slice(0, 1), 'one', { width: 480, height: 220 });
    expect(one).toMatch(/<circle [^>]*fill="#1f77b4"/);
    expect(one).toMatch(/width="636" height="290"/);
    const none = await perplexityPlot([], 'none');
    expect(none).toMatch(/^<svg[\s\S]*<\/svg>$/);
    expect(none).not.toMatch(/NaN|Infinity/);
  });
});

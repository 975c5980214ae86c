/**
 * The perplexity-per-epoch plot (train and validation), an SVG drawn by Vega-Lite: the run's
 * perplexity.svg in Node, and the live chart of <deeprnn-train> in a page. Vega's expressions run
 * on its interpreter, not compiled with Function(), so the chart draws under a strict
 * Content-Security-Policy (no 'unsafe-eval').
 */
import * as vega from 'vega';
import { expressionInterpreter } from 'vega-interpreter';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { EpochRecord } from './checkpoint.ts';

export async function perplexityPlot(
  records: readonly Pick<EpochRecord, 'epoch' | 'perplexity' | 'validationPerplexity'>[],
  title: string,
  size = { width: 560, height: 300 },
): Promise<string> {
  const values = records.flatMap((r) => [
    { epoch: r.epoch, perplexity: r.perplexity, split: 'train' },
    ...(r.validationPerplexity === null ? [] : [{ epoch: r.epoch, perplexity: r.validationPerplexity, split: 'validation' }]),
  ]);
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: size.width,
    height: size.height,
    background: 'white',
    data: { values },
    mark: { type: 'line', interpolate: 'monotone' },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { format: 'd', tickMinStep: 1 } },
      y: { field: 'perplexity', type: 'quantitative', title: 'perplexity', scale: { type: 'log' } },
      color: { field: 'split', type: 'nominal', title: null, scale: { domain: ['train', 'validation'], range: ['#1f77b4', '#ff7f0e'] } },
    },
  };
  const view = new vega.View(vega.parse(compile(spec).spec, undefined, { ast: true }), { renderer: 'none', expr: expressionInterpreter });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

/**
 * What the app reports as it serves, for a runtime that keeps metrics (Node: edge/metrics.ts,
 * Prometheus). Runtime-free and cheap to call: each call is a counter or a histogram bucket; the
 * work of rendering happens only when something scrapes.
 */
export interface Telemetry {
  /** A response's headers went out: the route's pattern, its status, the model it used. */
  request(route: string, method: string, status: number, model: string | undefined): void;
  /** A streamed generation wrote its first character, this long after admission. */
  firstChar(model: string, seconds: number): void;
  /** A generation ended (any route, streamed or not). */
  generation(model: string, g: { chars: number; totalSeconds: number }): void;
}

/**
 * Follow a generation to its end for telemetry: `firstChar` is called by streaming routes when
 * they write the first character; the result gives the count and the total.
 */
export function trackGeneration(telemetry: Telemetry | undefined, model: string, result: Promise<{ numChars: number }>): { firstChar(): void } {
  const t0 = performance.now();
  let first = false;
  result.then(
    (r) => telemetry?.generation(model, { chars: r.numChars, totalSeconds: (performance.now() - t0) / 1000 }),
    () => {},
  );
  return {
    firstChar: () => {
      if (first) return;
      first = true;
      telemetry?.firstChar(model, (performance.now() - t0) / 1000);
    },
  };
}

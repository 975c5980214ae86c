/**
 * GET /metrics on Node: Prometheus' text format (prom-client), what vLLM, TGI and llama.cpp's
 * server let a Prometheus scrape. The app reports through `Telemetry` (a counter increment or a
 * histogram bucket per call, nothing else on the event loop's path); load figures — queue depth,
 * active rows — are read from the engines only when something scrapes.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EngineStats } from './engine/scheduler.ts';
import type { ModelRegistry } from './registry.ts';
import type { Telemetry } from './telemetry.ts';

/** Latency buckets (seconds): a character takes ~0.03–0.1 ms, a 2000-character request ~0.1–1 s, a queued one longer. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const REFUSALS = new Set([401, 429, 503]);

export interface Metrics {
  telemetry: Telemetry;
  render(): Promise<{ contentType: string; body: string }>;
}

export function prometheusMetrics(models: ModelRegistry): Metrics {
  const registry = new Registry();
  // The process, by hand rather than prom-client's default set, three of whose gauges end in
  // _total, which promtool's lint refuses.
  new Gauge({
    name: 'deeprnn_process_resident_memory_bytes',
    help: 'Resident memory of the server process, all threads',
    registers: [registry],
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: 'deeprnn_event_loop_heap_used_bytes',
    help: "The event loop's JavaScript heap in use",
    registers: [registry],
    collect() {
      this.set(process.memoryUsage().heapUsed);
    },
  });
  new Counter({
    name: 'deeprnn_process_cpu_seconds_total',
    help: 'CPU time of the server process, all threads (user + system)',
    registers: [registry],
    collect() {
      const u = process.cpuUsage();
      this.reset();
      this.inc((u.user + u.system) / 1e6);
    },
  });
  const requests = new Counter({
    name: 'deeprnn_http_requests_total',
    help: 'HTTP responses, by route pattern, method, status and model',
    labelNames: ['route', 'method', 'status', 'model'],
    registers: [registry],
  });
  const refusals = new Counter({
    name: 'deeprnn_refusals_total',
    help: 'Requests refused: 401 (API key), 429 (rate limit), 503 (at capacity); model is empty when refused before the body was read',
    labelNames: ['status', 'model'],
    registers: [registry],
  });
  const firstChar = new Histogram({
    name: 'deeprnn_time_to_first_char_seconds',
    help: 'Streamed generations: seconds from admission to the first character sent',
    labelNames: ['model'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const total = new Histogram({
    name: 'deeprnn_generation_duration_seconds',
    help: 'Generations: seconds from admission to the last character',
    labelNames: ['model'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const chars = new Counter({ name: 'deeprnn_generated_chars_total', help: 'Characters generated', labelNames: ['model'], registers: [registry] });
  const gauge = (name: string, help: string, read: (s: EngineStats) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['model'],
      registers: [registry],
      collect() {
        for (const m of models.models) this.set({ model: m.name }, read(m.engine.stats()));
      },
    });
  gauge('deeprnn_queue_depth', 'Requests waiting for a free row of a batch', (s) => s.queued);
  gauge('deeprnn_running_requests', 'Requests generating or scoring now', (s) => s.running);
  gauge('deeprnn_active_rows', 'Rows of the batches in use (beam search takes one per beam)', (s) => s.activeRows);
  gauge('deeprnn_batch_rows', 'Rows of the batches in all', (s) => s.capacity);

  const telemetry: Telemetry = {
    request(route, method, status, model) {
      requests.inc({ route, method, status: String(status), model: model ?? '' });
      if (REFUSALS.has(status)) refusals.inc({ status: String(status), model: model ?? '' });
    },
    firstChar(model, seconds) {
      firstChar.observe({ model }, seconds);
    },
    generation(model, g) {
      chars.inc({ model }, g.chars);
      total.observe({ model }, g.totalSeconds);
    },
  };
  return { telemetry, render: async () => ({ contentType: registry.contentType, body: await registry.metrics() }) };
}

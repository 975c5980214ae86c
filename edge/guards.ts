/**
 * Optional guards in front of the API, both off by default: API keys (`Authorization: Bearer
 * …`) and a per-client rate limit (a token bucket per API key, or per client address).
 */

/** API_KEYS: comma-separated keys; empty means no key is needed. */
export function parseApiKeys(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A key as the rate limiter and the prefix cache name its client: a short hash, never the key itself. */
export function keyId(key: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** Compare without leaking, through timing, how much of a key matched. */
export function sameKey(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  return diff === 0;
}

export interface RateLimit {
  /** Requests a client may make per minute, on average. */
  perMinute: number;
  /** Requests it may make at once after being idle. */
  burst: number;
}

/** RATE_LIMIT: "N/min" or "N/min,burst=B" (burst defaults to N); empty means no limit. */
export function parseRateLimit(value: string | undefined): RateLimit | null {
  if (value === undefined || value.trim() === '') return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*\/\s*min\s*(?:,\s*burst\s*=\s*(\d+))?\s*$/.exec(value);
  if (!m || Number(m[1]) <= 0 || (m[2] !== undefined && Number(m[2]) < 1))
    throw new Error(`RATE_LIMIT must look like "60/min" or "60/min,burst=10", got ${JSON.stringify(value)}`);
  return { perMinute: Number(m[1]), burst: m[2] !== undefined ? Number(m[2]) : Math.max(1, Math.ceil(Number(m[1]))) };
}

/** CPU_MS: CPU milliseconds a request may spend, a whole number in [1, 300000]; empty: `fallback`. */
export function parseCpuMs(value: string | undefined, fallback: number | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return fallback;
  if (!/^\s*\d+\s*$/.test(value) || Number(value) < 1 || Number(value) > 300_000)
    throw new Error(`CPU_MS must be a whole number of milliseconds in [1, 300000], got ${JSON.stringify(value)}`);
  return Number(value);
}

/** Clients remembered at once; the least recently seen are forgotten first (they start full again). */
const MAX_CLIENTS = 10_000;

export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Take one token for `client`: 0 when allowed, else the seconds until one is there. */
  take(client: string): number {
    const now = this.now();
    const rate = this.limit.perMinute / 60_000; // tokens per ms
    const b = this.buckets.get(client) ?? { tokens: this.limit.burst, at: now };
    this.buckets.delete(client); // re-inserted last: Map order is recency
    b.tokens = Math.min(this.limit.burst, b.tokens + (now - b.at) * rate);
    b.at = now;
    let wait = 0;
    if (b.tokens >= 1) b.tokens -= 1;
    else wait = Math.ceil((1 - b.tokens) / rate / 1000);
    this.buckets.set(client, b);
    if (this.buckets.size > MAX_CLIENTS) this.buckets.delete(this.buckets.keys().next().value!);
    return wait;
  }
}

// The one binding these tests use from @cloudflare/vitest-pool-workers (its full types would
// replace the DOM's with Workers' across the whole project).
declare module 'cloudflare:test' {
  export const SELF: { fetch(input: string | Request, init?: RequestInit): Promise<Response> };
}

/**
 * Continuous batching, and the job protocol it runs (`RowJob`): jobs — sampling and beam search
 * (decode/), scoring (evaluate.ts) — hold rows of one `RowStepper`, and every `tick` advances every ready job by one character with a single batched step — a
 * matrix product over the batch instead of one matrix-vector product per job. Jobs join and
 * leave between ticks. A joining job first reads its prefix alone, a bounded number of
 * characters per tick, so a long prompt never stalls the others.
 *
 * Rows: ready jobs hold [0, readyRows) — the rows each step computes — and jobs still reading
 * their prefix hold the rows after, in arrival order. A leaving job's rows are filled by moving
 * the later rows down. Every row computes as a batch of one (shared/kernel/stepper.ts), so none
 * of this bookkeeping can change a text.
 */
import type { RowStepper } from './kernel/stepper.ts';

/** Operations a job may ask of its rows between two steps. */
export interface RowOps {
  /** Its rows i take the state its rows from[i] had before the call, all at once. */
  gather(from: readonly number[]): void;
}

/**
 * The job protocol: work as this executor sees it: `rows` rows of recurrent state; `prefill` read
 * by its row 0 alone before it joins the batch (with `read` told the logits after each id, for
 * jobs that need them: scoring); then at every step one input per row, and the logits back.
 * Jobs are deterministic: the same job gives the same result on any runtime.
 */
export interface RowJob {
  readonly rows: number;
  readonly prefill: readonly number[];
  read?(index: number, logits: Float32Array): void;
  /** Write the next input of each of its rows at out[at + i]. */
  inputs(out: Int32Array, at: number): void;
  /** Its rows' logits after a step (row i at at + i · stride). Returns false once finished. */
  advance(logits: Float32Array, at: number, stride: number, ops: RowOps): boolean;
  /** Set once the job has nothing more to do (a job that only reads a prefix is finished from the start). */
  readonly finished: boolean;
  /** Its row 0 starts from this state (the layout of `RowStepper.readState`) instead of zeros. */
  readonly initialState?: Float32Array;
  /** It leaves the executor, having read `read` prefill ids; `state()` reads its row 0's state then. */
  leave?(read: number, state: () => Float32Array): void;
  /** Whose prefix-cache entries it may read and write (absent: the shared ones). */
  readonly cacheScope?: string;
}

interface Entry {
  job: RowJob;
  /** Its first row. */
  first: number;
  /** Prefix ids read so far. */
  read: number;
  ready: boolean;
  /** Started from the prefix cache (nothing to remember). */
  cached: boolean;
}

/** Single-row prefix steps per tick, shared by the joining jobs (about one batched step's worth). */
export const PREFILL_PER_TICK = 64;

/**
 * The states that prefixes lead to, most recently used last: a job whose prefix was read before
 * starts from its state instead of reading it again. The state after a prefix depends on nothing
 * else, and is restored bit for bit, so the text is the same either way.
 */
export class PrefixCache {
  private readonly states = new Map<string, Float32Array>();

  constructor(
    readonly capacity = 256,
    /** Prefixes shorter than this are cheaper to read than to look up. */
    readonly minLength = 4,
  ) {}

  key(ids: readonly number[], scope = ''): string | null {
    return ids.length >= this.minLength ? `${scope}|${ids.join(',')}` : null;
  }

  get(key: string): Float32Array | undefined {
    const s = this.states.get(key);
    if (s) {
      this.states.delete(key);
      this.states.set(key, s);
    }
    return s;
  }

  set(key: string, state: Float32Array): void {
    this.states.delete(key);
    this.states.set(key, state);
    if (this.states.size > this.capacity) this.states.delete(this.states.keys().next().value!);
  }
}

/** `tick`'s answer when no job finished (frozen: callers only read it). */
const NONE: readonly RowJob[] = Object.freeze([]);

/** A job whose state after its prefix depends on the prefix alone (it starts at zeros, and needs no logits along it). */
const cacheable = (job: RowJob) => !job.read && !job.initialState;

export class BatchExecutor {
  private entries: Entry[] = [];
  private used = 0;
  private readyRows = 0;
  private readonly tokens: Int32Array;

  constructor(
    readonly stepper: RowStepper,
    private readonly prefillPerTick = PREFILL_PER_TICK,
    private readonly cache: PrefixCache | null = null,
  ) {
    this.tokens = new Int32Array(stepper.capacity);
  }

  /** Rows free for new jobs. */
  get freeRows(): number {
    return this.stepper.capacity - this.used;
  }

  get size(): number {
    return this.entries.length;
  }

  /** Admit a job; false when its rows do not fit. */
  add(job: RowJob): boolean {
    if (job.rows > this.freeRows) return false;
    const e: Entry = { job, first: this.used, read: 0, ready: false, cached: false };
    for (let r = 0; r < job.rows; r++) this.stepper.reset(e.first + r);
    if (job.initialState) this.stepper.writeState(e.first, job.initialState);
    // A job that only needs the state after its prefix (not the logits along it) may start from a cached one.
    const key = this.cache && cacheable(job) ? this.cache.key(job.prefill, job.cacheScope) : null;
    const cached = key === null ? undefined : this.cache!.get(key);
    if (cached) {
      this.stepper.loadRow(e.first, cached);
      e.read = job.prefill.length;
      e.cached = true;
    }
    this.used += job.rows;
    this.entries.push(e);
    return true;
  }

  /** Whether `job` is still in (a job that only reads a prefix is finished before it leaves). */
  has(job: RowJob): boolean {
    return this.entries.some((e) => e.job === job);
  }

  /** Take a job out (finished, cancelled or past its deadline); its rows go to the others. */
  remove(job: RowJob): void {
    const i = this.entries.findIndex((e) => e.job === job);
    if (i < 0) return;
    const [gone] = this.entries.splice(i, 1);
    gone.job.leave?.(gone.read, () => this.stepper.readState(gone.first));
    const n = gone.job.rows;
    for (let r = gone.first + n; r < this.used; r++) this.stepper.copy(r, r - n);
    for (const e of this.entries) if (e.first > gone.first) e.first -= n;
    this.used -= n;
    if (gone.ready) this.readyRows -= n;
  }

  /**
   * One step of every ready job, after some prefix reading for the joining ones. Returns the
   * jobs that finished (already removed). Callers read each job's new characters with `take`.
   */
  tick(): readonly RowJob[] {
    let budget = this.prefillPerTick;
    for (const e of this.entries) {
      if (e.ready) continue;
      const ids = e.job.prefill;
      while (e.read < ids.length && budget > 0) {
        this.one[0] = ids[e.read];
        const logits = this.stepper.step(e.first, this.one);
        e.job.read?.(e.read, logits);
        e.read++;
        budget--;
      }
      if (e.read < ids.length) break; // in arrival order: later jobs wait for this one
      if (e.job.finished) continue; // all it needed was the prefix (scoring)
      const key = this.cache && cacheable(e.job) ? this.cache.key(ids, e.job.cacheScope) : null;
      if (key !== null && !e.cached) this.cache!.set(key, this.stepper.saveRow(e.first));
      e.ready = true;
      this.readyRows += e.job.rows;
    }
    // Allocated only when a job finishes: a tick runs once per character.
    let finished: RowJob[] | null = null;
    // A job that only reads (scoring, a prefix cut by a budget) is done once it has read it all.
    for (const e of this.entries) if (!e.ready && e.job.finished && e.read >= e.job.prefill.length) (finished ??= []).push(e.job);
    if (finished) for (const job of finished) this.remove(job);
    if (this.readyRows === 0) return finished ?? NONE;
    // Ready jobs hold rows [0, readyRows), in entry order.
    for (const e of this.entries) if (e.ready) e.job.inputs(this.tokens, e.first);
    const logits = this.stepper.step(0, this.tokensOf(this.readyRows));
    const stride = this.stepper.logitsStride;
    for (const e of this.entries) {
      if (!e.ready) continue;
      this.current = e;
      if (!e.job.advance(logits, e.first * stride, stride, this.ops)) (finished ??= []).push(e.job);
    }
    if (!finished) return NONE;
    for (const job of finished) if (job.finished) this.remove(job);
    return finished;
  }

  /** tokens[0, n), one view per n made once. */
  private tokensOf(n: number): Int32Array {
    return (this.tokenViews[n] ??= this.tokens.subarray(0, n));
  }
  private readonly tokenViews: Int32Array[] = [];
  /** A prefix id being read. */
  private readonly one = new Int32Array(1);

  /** The entry advancing now: what `ops` acts on (one object for every call, not one per job and tick). */
  private current: Entry | null = null;
  private readonly ops: RowOps = { gather: (from) => this.stepper.gather(this.current!.first, from) };
}

/** Run one job to its end on `stepper`, synchronously (the CLI, tests). */
export function runJob(job: RowJob, stepper: RowStepper): RowJob {
  const ex = new BatchExecutor(stepper, Number.MAX_SAFE_INTEGER);
  if (!ex.add(job)) throw new RangeError(`the job needs ${job.rows} rows; the stepper has ${stepper.capacity}`);
  while (ex.has(job)) ex.tick();
  return job;
}

/** A `RowStepper` whose steps are asynchronous (onnxruntime in a page). */
export interface AsyncRowStepper {
  readonly capacity: number;
  readonly logitsStride: number;
  step(first: number, tokens: ArrayLike<number>): Promise<Float32Array>;
  /** Feed `ids` to `row` in order (one call for a whole prefix); the logits after each id, row i at i · logitsStride. */
  read(row: number, ids: readonly number[]): Promise<Float32Array>;
  reset(row: number): void;
  gather(first: number, from: readonly number[]): void;
}

/**
 * Run one job on an asynchronous stepper: the same job, so the same characters as the batched
 * executor picks (up to the runtime's own rounding). `each` sees the job after every step and
 * returns false to stop early (a cancel).
 */
export async function runJobAsync(job: RowJob, rows: AsyncRowStepper, each: () => boolean): Promise<void> {
  if (job.rows > rows.capacity) throw new RangeError(`the job needs ${job.rows} rows; the stepper has ${rows.capacity}`);
  for (let r = 0; r < job.rows; r++) rows.reset(r);
  if (job.prefill.length) {
    const logits = await rows.read(0, job.prefill);
    if (job.read) for (let i = 0; i < job.prefill.length; i++) job.read(i, logits.subarray(i * rows.logitsStride, (i + 1) * rows.logitsStride));
  }
  const tokens = new Int32Array(job.rows);
  const ops: RowOps = { gather: (from) => rows.gather(0, from) };
  while (!job.finished && each()) {
    job.inputs(tokens, 0);
    const logits = await rows.step(0, tokens);
    job.advance(logits, 0, rows.logitsStride, ops);
  }
  each();
}

/**
 * `LICENSOR_TRACE_TIMING=1`: where a start-up of the CLI goes (issue 15), printed on stderr at exit as one line per
 * phase. Phases are marked where they end, in milliseconds since the process started (`performance.now()`), so
 * consecutive marks give the breakdown: process start → bin, module load, fingerprint, state read/decrypt,
 * verify, output. Readings that run in parallel are recorded as spans of their own (`fingerprint.<reading>`).
 *
 * The marks live on a global symbol, not in this module: the bin (plain JavaScript) and the bundle it loads each
 * have their own copy of the code, and one list has to see both. Off by default, and then a mark is one
 * property lookup.
 */
const KEY = Symbol.for('licensor.timing');

export interface TimingTrace {
  /** Phase ends, in order: label and milliseconds since the process started. */
  marks: [string, number][];
  /** Work that overlaps the phases (parallel readings): label, start and end. */
  spans: [string, number, number][];
}

type Holder = { [KEY]?: TimingTrace | null };

/** The trace of this process, or undefined when tracing is off (decided once, from the environment). */
export function timingTrace(env: Record<string, string | undefined> = process.env): TimingTrace | undefined {
  const g = globalThis as Holder;
  if (g[KEY] === undefined) g[KEY] = env.LICENSOR_TRACE_TIMING === '1' ? { marks: [], spans: [] } : null;
  return g[KEY] ?? undefined;
}

/** Marks the end of a phase (no-op unless tracing). */
export function markPhase(label: string): void {
  timingTrace()?.marks.push([label, performance.now()]);
}

/** Records a span that ran from `start` (a `performance.now()` value) until now (no-op unless tracing). */
export function recordSpan(label: string, start: number): void {
  timingTrace()?.spans.push([label, start, performance.now()]);
}

/** The breakdown as text: each phase's duration (from the previous mark), then the spans. */
export function formatTiming(trace: TimingTrace): string {
  const lines = ['licensor timing (ms since process start; phase = time since the previous mark):'];
  let previous = 0;
  for (const [label, at] of trace.marks) {
    lines.push(`  ${label.padEnd(44)} ${(at - previous).toFixed(1).padStart(7)}  (at ${at.toFixed(1)})`);
    previous = at;
  }
  for (const [label, start, end] of trace.spans) {
    lines.push(
      `  ${`  ${label}`.padEnd(44)} ${(end - start).toFixed(1).padStart(7)}  (${start.toFixed(1)}–${end.toFixed(1)})`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Hand-written sections of bench/results/report.md (measurements bench/run.ts does not make itself, such as the
 * client's cold start) survive a regeneration of the report: each sits between two markers,
 *
 *   <!-- hand-written: client-cold-start -->
 *   ## Client cold start …
 *   <!-- end hand-written: client-cold-start -->
 *
 * and the generator copies every such block from the previous report into the new one: in place of a block with
 * the same name if the generated text has one, else at the end, in their previous order.
 */

const BLOCK = /<!-- hand-written: ([\w.-]+) -->\n[\s\S]*?<!-- end hand-written: \1 -->\n?/g;
const OPENING = /<!-- hand-written: ([\w.-]+) -->/g;

export interface HandWrittenBlock {
  name: string;
  /** The block, markers included, ending with a newline. */
  text: string;
}

/** Every marked block of `markdown`, in order; an opening marker without its end marker is an error. */
export function handWrittenBlocks(markdown: string): HandWrittenBlock[] {
  const blocks = [...markdown.matchAll(BLOCK)].map((m) => ({
    name: m[1]!,
    text: m[0].endsWith('\n') ? m[0] : `${m[0]}\n`,
  }));
  const opened = [...markdown.matchAll(OPENING)].map((m) => m[1]!);
  const closed = blocks.map((b) => b.name);
  const seen = new Set<string>();
  for (const name of closed) {
    if (seen.has(name)) throw new Error(`report.md: two hand-written blocks named "${name}"`);
    seen.add(name);
  }
  // Dropping text someone wrote by hand because a marker was mistyped is the one thing this must not do.
  if (opened.length !== closed.length) {
    const unclosed = opened.filter((n) => !closed.includes(n));
    throw new Error(
      `report.md: hand-written block "${unclosed[0] ?? opened[0]}" has no "<!-- end hand-written: … -->" marker`,
    );
  }
  return blocks;
}

/** The generated report with the previous report's hand-written blocks carried over (see the module comment). */
export function keepHandWritten(generated: string, previous: string | undefined): string {
  if (!previous) return generated;
  const kept = handWrittenBlocks(previous);
  const placeholders = new Set(handWrittenBlocks(generated).map((b) => b.name));
  let out = generated.replace(BLOCK, (whole, name: string) => kept.find((b) => b.name === name)?.text ?? whole);
  const appended = kept.filter((b) => !placeholders.has(b.name));
  if (appended.length) out = `${out.replace(/\n*$/, '\n\n')}${appended.map((b) => b.text).join('\n')}`;
  return out;
}

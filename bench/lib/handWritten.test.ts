import { describe, expect, it } from 'vitest';
import { handWrittenBlocks, keepHandWritten } from './handWritten';

const coldStart = [
  '<!-- hand-written: client-cold-start -->',
  '## Client cold start',
  '',
  '| variant | median |',
  '|---|---:|',
  '| bare | 106 ms |',
  '<!-- end hand-written: client-cold-start -->',
  '',
].join('\n');
const notes = '<!-- hand-written: notes -->\nA note.\n<!-- end hand-written: notes -->\n';

describe('keepHandWritten', () => {
  it('appends the previous hand-written blocks, in order, after a freshly generated report', () => {
    const previous = `# Report\n\nold numbers\n\n${coldStart}\n${notes}`;
    const out = keepHandWritten('# Report\n\nnew numbers\n', previous);
    expect(out).toBe(`# Report\n\nnew numbers\n\n${coldStart}\n${notes}`);
    expect(out).not.toContain('old numbers');
  });

  it('replaces a block of the same name in the generated report in place', () => {
    const generated = [
      '# Report',
      '<!-- hand-written: client-cold-start -->',
      '(run npm run bench:cold-start and write the result here)',
      '<!-- end hand-written: client-cold-start -->',
      '## Goals',
      '',
    ].join('\n');
    const out = keepHandWritten(generated, `# Old\n${coldStart}`);
    expect(out).toBe(`# Report\n${coldStart}## Goals\n`);
  });

  it('keeps the generated placeholder when the previous report has no such block', () => {
    const generated = '# Report\n<!-- hand-written: x -->\nplaceholder\n<!-- end hand-written: x -->\n';
    expect(keepHandWritten(generated, '# Old\n')).toBe(generated);
  });

  it('regenerating twice keeps exactly one copy of each block', () => {
    const once = keepHandWritten('# Report\n', `# Old\n\n${coldStart}`);
    const twice = keepHandWritten('# Report\n', once);
    expect(twice).toBe(once);
    expect(twice.match(/<!-- hand-written: client-cold-start -->/g)).toHaveLength(1);
  });

  it('returns the generated report as is when there is no previous report', () => {
    expect(keepHandWritten('# Report\n', undefined)).toBe('# Report\n');
  });
});

describe('handWrittenBlocks', () => {
  it('refuses an opening marker without its end marker rather than dropping the text', () => {
    expect(() => handWrittenBlocks('<!-- hand-written: a -->\ntext\n')).toThrow(/"a" has no/);
    expect(() => handWrittenBlocks('<!-- hand-written: a -->\ntext\n<!-- end hand-written: b -->\n')).toThrow(
      /"a" has no/,
    );
  });

  it('refuses two blocks of the same name', () => {
    expect(() => handWrittenBlocks(`${notes}${notes}`)).toThrow(/two hand-written blocks named "notes"/);
  });

  it('reads the names and the exact text, markers included', () => {
    expect(handWrittenBlocks(`x\n${coldStart}y\n${notes}`)).toEqual([
      { name: 'client-cold-start', text: coldStart },
      { name: 'notes', text: notes },
    ]);
  });
});

/**
 * Text preprocessing, d2l's `read_time_machine` + `tokenize(lines, 'char')`.
 *
 * `d2l`: each line → every run of non-letters becomes one space, trimmed, lower-cased; lines are
 * then concatenated with no separator (so the corpus has no newlines, exactly as in the book).
 * `raw`: the text as written (NFC), case, punctuation and newlines kept — for corpora the English
 * letter filter would destroy.
 */
export type Preprocessing = 'd2l' | 'raw';
export const PREPROCESSINGS: readonly Preprocessing[] = ['d2l', 'raw'];

/** Python's `readlines()` in text mode: universal newlines, no empty piece after a final newline. */
export function readLines(text: string): string[] {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** `re.sub('[^A-Za-z]+', ' ', line).strip().lower()` */
export function d2lLine(line: string): string {
  return line
    .replace(/[^A-Za-z]+/g, ' ')
    .trim()
    .toLowerCase();
}

/** d2l's `read_time_machine` for one file: the preprocessed lines. */
export function readTimeMachineLines(text: string): string[] {
  return readLines(text).map(d2lLine);
}

/** One corpus file → its character tokens (code points, so astral characters stay whole). */
export function tokenizeChars(text: string, mode: Preprocessing): string[] {
  if (mode === 'd2l') return Array.from(readTimeMachineLines(text).join(''));
  return Array.from(text.replace(/\r\n?/g, '\n').normalize('NFC'));
}

/**
 * A generation prefix, put through the model's preprocessing without trimming (a trailing space
 * is meaningful in a prompt). Under `d2l`, accents are folded first so "Café" reads "cafe"
 * rather than "caf ". Characters still outside the vocabulary later map to `<unk>`.
 */
export function normalizePrefix(prefix: string, mode: Preprocessing): string {
  if (mode === 'raw') return prefix.replace(/\r\n?/g, '\n').normalize('NFC');
  return prefix
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[^A-Za-z]+/g, ' ')
    .toLowerCase();
}

/**
 * Where an author tag goes (models trained with --author-tags): at the start of every
 * paragraph. In `raw` text a paragraph starts after a run of two or more line breaks; `d2l`
 * text has no line breaks left, so its tags sit where a blank line was and may come anywhere.
 * Training inserts tags by this rule and generation lets the model place them by it.
 */
export function atParagraphStart(textSoFar: string, mode: Preprocessing): boolean {
  return mode === 'd2l' || textSoFar.length === 0 || textSoFar.endsWith('\n\n');
}

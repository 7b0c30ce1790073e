// What every renderer does to a string from data (labels, model versions, dataset names, values) before
// its format's own escaping: characters that are invisible or reorder what a reader sees are made visible
// or dropped, and a very long string is cut.

/** Bidirectional overrides and isolates (U+202E writes "exe.txt" as "txt.exe") and direction marks. */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
/** C0 controls (NUL, ESC, …) except tab and line breaks, and DEL: shown as their control pictures (␀, ␛). */
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

export function displayText(v: unknown, max = Infinity): string {
  let s = String(v ?? '');
  if (s.length > max) {
    let cut = max;
    const c = s.charCodeAt(cut - 1);
    if (c >= 0xd800 && c <= 0xdbff) cut--;
    s = `${s.slice(0, cut)}…`;
  }
  return s.replace(BIDI, '').replace(CONTROL, (ch) => String.fromCharCode(ch === '\u007f' ? 0x2421 : 0x2400 + ch.charCodeAt(0)));
}

/**
 * Secrets never reach logs, outputs, commit messages or reports: every text mlloop prints or writes
 * for people goes through a Masker that knows the secrets of this run.
 */
export class Masker {
  private readonly secrets = new Set<string>();

  add(secret: string | undefined): void {
    if (!secret || secret.length < 4) return;
    this.secrets.add(secret);
    // Also the forms a secret takes inside URLs and headers.
    this.secrets.add(encodeURIComponent(secret));
    this.secrets.add(Buffer.from(secret).toString('base64'));
  }

  get size(): number {
    return this.secrets.size;
  }

  mask(text: string): string {
    let out = redactUrlCredentials(text);
    // Longest first, so a secret that contains another is replaced whole.
    for (const s of [...this.secrets].sort((a, b) => b.length - a.length)) {
      if (out.includes(s)) out = out.split(s).join('***');
    }
    return out;
  }
}

/** `https://user:token@host/x` → `https://***@host/x`; applies to every URL in the text. */
export function redactUrlCredentials(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^\s/@]+)@/gi, '$1***@');
}

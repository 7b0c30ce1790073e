import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { writeFileAtomic } from '../io/atomic.js';
import type { Logger } from '../log.js';
import { DedupWindow, type Dispatch } from './events.js';

/** An accepted event as it is kept until GitHub answered 2xx (never with its token: that comes from the config). */
export interface StoredEvent {
  id: string;
  d: Omit<Dispatch, 'token'>;
  acceptedAt: number;
}

/**
 * Where accepted events live until delivered: the file spool (one process) or a Redis stream (replicas share
 * it). The relay answers 202 only after accept() resolved, and forgets an event only through delivered() or
 * dropped(), so a crash or SIGTERM at any point loses nothing that was answered 202.
 */
export interface EventStore {
  readonly describe: string;
  /** Starts handing events to deliver to `take` (on open: what an earlier run left). */
  open(take: (events: StoredEvent[]) => void): Promise<void>;
  /**
   * Records the events whose dedup key is new within the window, durably, and returns them; the others are
   * duplicates and are not recorded. Throws when nothing could be recorded (the caller answers 503).
   */
  accept(events: StoredEvent[], now: number): Promise<StoredEvent[]>;
  /** Events accepted and not yet delivered, in this process (file) or by every replica (Redis). */
  backlog(localWaiting: number): Promise<number>;
  delivered(events: StoredEvent[]): Promise<void>;
  /** Failed for good: removed, and their keys forgotten so the sender's next notification tries again. */
  dropped(events: StoredEvent[]): Promise<void>;
  /** Keeps the claim on events being retried (Redis: so other replicas do not take them over). */
  touch(events: StoredEvent[]): Promise<void>;
  dedupKeys(): number;
  close(): Promise<void>;
}

export const newEventId = (): string => randomUUID();

type Line = { a: StoredEvent; k: number } | { done: string[] } | { forget: string[] } | { key: string; at: number };

/**
 * The file spool: `events.log` in a folder, one JSON line per record — accepted (with its dedup key's time),
 * done (delivered or dropped), forgotten keys. Appends made while a write is under way are written together
 * with one fsync (group commit), so a burst costs few fsyncs. On open the log is replayed (a torn last line,
 * which was never acknowledged, is ignored) and rewritten with only the live events and dedup keys; the same
 * compaction runs when delivered records outnumber live ones.
 */
export class FileSpool implements EventStore {
  private readonly file: string;
  private fh?: fs.FileHandle;
  private readonly live = new Map<string, StoredEvent>();
  private readonly dedup: DedupWindow;
  private buffered: string[] = [];
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private writing?: Promise<void>;
  private garbage = 0;
  private sweeper?: NodeJS.Timeout;

  constructor(
    readonly dir: string,
    private readonly windowMs: number,
    maxKeys: number,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.file = path.join(dir, 'events.log');
    this.dedup = new DedupWindow(windowMs, maxKeys);
  }

  get describe(): string {
    return `spool ${this.file}`;
  }

  async open(take: (events: StoredEvent[]) => void): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    let text = '';
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const keys = new Map<string, number>();
    let torn = 0;
    for (const raw of text.split('\n')) {
      if (!raw) continue;
      let rec: Line;
      try {
        rec = JSON.parse(raw) as Line;
      } catch {
        torn++;
        continue;
      }
      if ('a' in rec) {
        this.live.set(rec.a.id, rec.a);
        keys.set(rec.a.d.dedupKey, rec.k);
      } else if ('done' in rec) for (const id of rec.done) this.live.delete(id);
      else if ('forget' in rec) for (const k of rec.forget) keys.delete(k);
      else if ('key' in rec) keys.set(rec.key, rec.at);
    }
    const now = this.now();
    for (const [k, at] of [...keys].sort((x, y) => x[1] - y[1])) if (now - at < this.windowMs) this.dedup.remember(k, at);
    if (torn) this.log.warn(`relay: ${this.describe}: ignored ${torn} incomplete record(s) (written while the process stopped, never acknowledged)`);
    await this.compact();
    this.fh = await fs.open(this.file, 'a');
    // Expired keys leave memory once a minute (and the log at the next compaction).
    this.sweeper = setInterval(() => this.dedup.sweep(this.now()), 60_000);
    this.sweeper.unref();
    if (this.live.size) {
      this.log.info(`relay: ${this.describe}: ${this.live.size} accepted event(s) from an earlier run to deliver`);
      take([...this.live.values()].sort((x, y) => x.acceptedAt - y.acceptedAt));
    }
    this.take = take;
  }

  private take: (events: StoredEvent[]) => void = () => {};

  async accept(events: StoredEvent[], now: number): Promise<StoredEvent[]> {
    const fresh = events.filter((e) => this.dedup.admit(e.d.dedupKey, now));
    if (fresh.length === 0) return fresh;
    // Live before the write, so a compaction between the write and this function's continuation keeps them.
    for (const f of fresh) this.live.set(f.id, f);
    try {
      await this.append(fresh.map((a) => JSON.stringify({ a, k: now })));
    } catch (e) {
      for (const f of fresh) {
        this.live.delete(f.id);
        this.dedup.forget(f.d.dedupKey);
      }
      throw e;
    }
    this.take(fresh);
    return fresh;
  }

  async backlog(localWaiting: number): Promise<number> {
    return localWaiting;
  }

  async delivered(events: StoredEvent[]): Promise<void> {
    await this.finish(events, false);
  }

  async dropped(events: StoredEvent[]): Promise<void> {
    await this.finish(events, true);
  }

  async touch(): Promise<void> {}

  dedupKeys(): number {
    return this.dedup.size;
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await this.writing;
    await this.fh?.close();
    this.fh = undefined;
  }

  private async finish(events: StoredEvent[], forget: boolean): Promise<void> {
    for (const e of events) this.live.delete(e.id);
    if (forget) for (const e of events) this.dedup.forget(e.d.dedupKey);
    const lines = [JSON.stringify({ done: events.map((e) => e.id) })];
    if (forget) lines.push(JSON.stringify({ forget: events.map((e) => e.d.dedupKey) }));
    this.garbage += events.length;
    await this.append(lines);
  }

  /** Appends lines and resolves once they are on disk (fsync), sharing the fsync with concurrent appends. */
  private append(lines: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.buffered.push(...lines);
      this.waiters.push({ resolve, reject });
      if (!this.writing) this.writing = this.flush().finally(() => (this.writing = undefined));
    });
  }

  private async flush(): Promise<void> {
    while (this.buffered.length) {
      const lines = this.buffered;
      const waiters = this.waiters;
      this.buffered = [];
      this.waiters = [];
      try {
        if (!this.fh) throw new Error(`${this.describe} is closed`);
        await this.fh.write(`${lines.join('\n')}\n`);
        await this.fh.datasync();
        for (const w of waiters) w.resolve();
      } catch (e) {
        for (const w of waiters) w.reject(e);
      }
      if (this.garbage > 1000 && this.garbage > 4 * this.live.size) {
        try {
          await this.compact();
        } catch (e) {
          this.log.warn(`relay: ${this.describe}: compaction failed (the log keeps growing): ${(e as Error).message}`);
        }
      }
    }
  }

  /** Rewrites the log with only live events and unexpired dedup keys (temp file, fsync, rename, fsync the folder). */
  private async compact(): Promise<void> {
    const now = this.now();
    const lines: string[] = [];
    const liveKeys = new Set<string>();
    for (const a of this.live.values()) liveKeys.add(a.d.dedupKey);
    for (const [key, at] of this.dedup.entries()) if (!liveKeys.has(key) && now - at < this.windowMs) lines.push(JSON.stringify({ key, at }));
    for (const a of this.live.values()) lines.push(JSON.stringify({ a, k: this.dedup.seenAt(a.d.dedupKey) ?? a.acceptedAt }));
    const reopen = this.fh !== undefined;
    if (reopen) await this.fh!.close();
    this.fh = undefined;
    try {
      await writeFileAtomic(this.file, lines.length ? `${lines.join('\n')}\n` : '');
      const dir = await fs.open(this.dir, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    } finally {
      if (reopen) this.fh = await fs.open(this.file, 'a');
    }
    this.garbage = 0;
  }
}

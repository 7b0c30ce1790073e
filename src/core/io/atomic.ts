import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

export interface PendingFile {
  path: string;
  data: string | Uint8Array;
}

function tempName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Writes a file so that readers see either the old content or the new, never a part. */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await writeFilesAtomic([{ path: target, data }]);
}

export async function writeJsonAtomic(target: string, value: unknown): Promise<void> {
  await writeFileAtomic(target, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Writes several files as one unit: every file is written and flushed to a temp name first, and only
 * when all of them succeeded are they renamed into place. A failure leaves no temp file behind.
 */
export async function writeFilesAtomic(files: readonly PendingFile[]): Promise<void> {
  const staged: { temp: string; target: string }[] = [];
  try {
    for (const f of files) {
      await fs.mkdir(path.dirname(path.resolve(f.path)), { recursive: true });
      const temp = tempName(path.resolve(f.path));
      staged.push({ temp, target: path.resolve(f.path) });
      const handle = await fs.open(temp, 'w');
      try {
        await handle.writeFile(f.data);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  } catch (e) {
    await Promise.all(staged.map((s) => fs.rm(s.temp, { force: true })));
    throw e;
  }
  for (const s of staged) await fs.rename(s.temp, s.target);
}

export interface AtomicStream {
  /** Appends text (buffered; waits for the disk when the buffer is full). */
  write(text: string): Promise<void>;
  /** Flushes, syncs and closes the temp file, without renaming it: one part of a batch. */
  finish(): Promise<void>;
  /** Renames a finished file into place (finish() first). */
  rename(): Promise<void>;
  /** finish() then rename(): the file alone. */
  commit(): Promise<void>;
  /** Removes the temp file; the target keeps its old content. */
  abort(): Promise<void>;
}

/**
 * Streams a large output (e.g. one JSON line per image) to a temp file next to the target, so that
 * memory stays bounded; readers see the target only after commit() renames it whole.
 */
export async function openAtomicStream(target: string): Promise<AtomicStream> {
  const resolved = path.resolve(target);
  await fs.mkdir(path.dirname(resolved), { recursive: true });
  const temp = tempName(resolved);
  const handle = await fs.open(temp, 'w');
  let buffer: string[] = [];
  let size = 0;
  let closed = false;
  const flush = async () => {
    if (size === 0) return;
    const chunk = buffer.join('');
    buffer = [];
    size = 0;
    await handle.write(chunk);
  };
  const stream: AtomicStream = {
    async write(text) {
      buffer.push(text);
      size += text.length;
      if (size >= 1 << 20) await flush();
    },
    async finish() {
      if (closed) return;
      try {
        await flush();
        await handle.sync();
      } finally {
        closed = true;
        await handle.close();
      }
    },
    async rename() {
      await fs.rename(temp, resolved);
    },
    async commit() {
      await stream.finish();
      await stream.rename();
    },
    async abort() {
      if (!closed) {
        closed = true;
        await handle.close().catch(() => undefined);
      }
      await fs.rm(temp, { force: true });
    },
  };
  return stream;
}

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConfigurationError } from '../errors.js';

export interface PendingFile {
  path: string;
  data: string | Uint8Array;
}

function tempName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Where an output really goes: a new path, or an existing regular file (symlinks followed), and its mode. */
interface Target {
  path: string;
  mode?: number;
}

const KIND = (st: import('node:fs').Stats) =>
  st.isDirectory() ? 'a folder' : st.isFIFO() ? 'a FIFO (named pipe)' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : st.isSocket() ? 'a socket' : 'not a regular file';

/** An error creating or writing an output, as the user's mistake (exit 2) when the path is at fault. */
function unwritable(e: unknown, file: string): unknown {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOTDIR' || code === 'EEXIST') return new ConfigurationError('cannot write here: a part of the path is a file, not a folder', { file, hint: 'choose an output path whose folders are folders' });
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return new ConfigurationError(`cannot write here: ${code === 'EROFS' ? 'read-only file system' : 'permission denied'}`, { file, hint: 'choose an output path in a folder you can write to' });
  if (code === 'ENOENT') return new ConfigurationError('cannot write here: the folder does not accept new files (a virtual file system such as /proc?)', { file, hint: 'choose an output path in an ordinary folder' });
  if (code === 'EISDIR') return new ConfigurationError('the output path is a folder', { file, hint: 'name a file (e.g. inside that folder)' });
  if (code === 'ELOOP' || code === 'ENAMETOOLONG') return new ConfigurationError(`cannot write here: ${(e as Error).message}`, { file, hint: 'choose another output path' });
  return e;
}

/**
 * Resolves an output path (docs/contracts.md, "Output files"): a symlink is followed to the file it
 * names, which is then replaced atomically next to itself (the link stays a link); anything that exists
 * and is not a regular file (a folder, a device such as /dev/full, a FIFO, a socket) is refused, never replaced.
 */
async function resolveTarget(file: string): Promise<Target> {
  let p = path.resolve(file);
  for (let hops = 0; ; hops++) {
    let st;
    try {
      st = await fs.lstat(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { path: p };
      throw unwritable(e, file);
    }
    if (st.isSymbolicLink()) {
      if (hops >= 40) throw new ConfigurationError('too many levels of symbolic links', { file, hint: 'point --out at a file or a new path' });
      p = path.resolve(path.dirname(p), await fs.readlink(p));
      continue;
    }
    if (!st.isFile()) {
      throw new ConfigurationError(`the output path ${p === path.resolve(file) ? 'is' : `leads to ${p}, which is`} ${KIND(st)}: mlloop writes only regular files and never replaces anything else`, {
        file,
        hint: 'name a regular file or a new path',
      });
    }
    return { path: p, mode: st.mode & 0o7777 };
  }
}

/**
 * Checks an output path before any work (a command that reads the old content first, or runs for long):
 * exit 2 now for a folder, a device, a FIFO or a symlink to one, rather than after the work.
 */
export async function checkOutputPath(file: string): Promise<void> {
  await resolveTarget(file);
}

/** Creates the temp file next to the target (and the target's folders), with the target's mode when it exists. */
async function openTemp(file: string): Promise<{ target: string; temp: string; handle: import('node:fs/promises').FileHandle }> {
  const t = await resolveTarget(file);
  try {
    await fs.mkdir(path.dirname(t.path), { recursive: true });
    const temp = tempName(t.path);
    const handle = await fs.open(temp, 'wx', t.mode ?? 0o666);
    return { target: t.path, temp, handle };
  } catch (e) {
    throw unwritable(e, file);
  }
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
      const { target, temp, handle } = await openTemp(f.path);
      staged.push({ temp, target });
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
  const { target: resolved, temp, handle } = await openTemp(target);
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

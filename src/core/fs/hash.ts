import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import * as path from 'node:path';

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function listFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  const entries = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
  for (const e of entries) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, r)));
    else if (e.isFile()) out.push(r);
  }
  return out;
}

/**
 * A content hash of a folder: sha256 over the sorted relative paths and each file's own sha256, so the
 * same data gives the same hash on any machine, whatever the file order or timestamps.
 */
export async function sha256Tree(dir: string): Promise<{ sha256: string; files: number; bytes: number }> {
  const files = (await listFiles(dir)).sort();
  const hash = createHash('sha256');
  let bytes = 0;
  for (const rel of files) {
    const full = path.join(dir, rel);
    bytes += (await fs.stat(full)).size;
    hash.update(`${rel}\0${await sha256File(full)}\n`);
  }
  return { sha256: hash.digest('hex'), files: files.length, bytes };
}

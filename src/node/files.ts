// The host side of file transfers under Node (and the Playwright fixture's Node side): host files
// and directories read into bytes or tar archives, and written back out of them.

import { lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { packTar, unpackTar, type TarEntry } from "../guest/tar.ts";

/** Where a getFile()/getDir() result is also written on the host. */
export interface HostTarget {
  /** A host path: getFile writes the file there, getDir unpacks the archive into that directory. */
  to?: string;
}

/** What a host path holds, for putFile: a file's bytes, or a directory as a tar archive. */
export async function readHostPath(path: string, what: string): Promise<{ kind: "file" | "directory"; bytes: Uint8Array }> {
  const st = await lstat(path).catch((e: Error) => {
    throw new Error(`${what}: cannot read the host path ${path}: ${e.message}`);
  });
  if (st.isDirectory()) return { kind: "directory", bytes: packTar(await walk(path)) };
  if (!st.isFile()) throw new Error(`${what}: the host path ${path} is neither a file nor a directory`);
  const b = await readFile(path);
  return { kind: "file", bytes: new Uint8Array(b.buffer, b.byteOffset, b.byteLength) };
}

/** A host directory's files, directories and links as tar entries (paths relative to it). */
async function walk(root: string): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  const visit = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const full = join(dir, name);
      const path = relative(root, full).split(sep).join("/");
      const st = await lstat(full);
      const mode = st.mode & 0o7777;
      const mtime = Math.floor(st.mtimeMs / 1000);
      if (st.isDirectory()) {
        entries.push({ path, type: "directory", mode, mtime });
        await visit(full);
      } else if (st.isSymbolicLink()) entries.push({ path, type: "symlink", target: await readlink(full), mtime });
      else if (st.isFile()) entries.push({ path, type: "file", mode, mtime, data: await readFile(full) });
    }
  };
  await visit(root);
  return entries;
}

/** Unpacks a tar archive into the host directory `dir` (made when missing); refuses paths that leave it. */
export async function writeHostDir(dir: string, archive: Uint8Array): Promise<void> {
  const root = resolve(dir);
  await mkdir(root, { recursive: true });
  for (const e of unpackTar(archive)) {
    const target = resolve(root, e.path);
    if (target !== root && !target.startsWith(root + sep)) throw new Error(`getDir: the archive's path ${e.path} leaves ${dir}`);
    if (e.type === "directory") await mkdir(target, { recursive: true, mode: e.mode });
    else {
      await mkdir(dirname(target), { recursive: true });
      if (e.type === "symlink") await symlink(e.target ?? "", target);
      else await writeFile(target, e.data ?? new Uint8Array(0), { mode: e.mode });
    }
  }
}

// Tar archives as putDir()/getDir() carry directories: POSIX ustar, which busybox tar reads and
// writes, plus the GNU long-name records busybox writes for paths over 100 bytes. Files,
// directories and symbolic links; everything else in an archive is skipped.

export interface TarEntry {
  /** Relative path, "/"-separated, without a leading "./" (a directory's without a trailing "/"). */
  path: string;
  type: "file" | "directory" | "symlink";
  /** Permission bits (default 0o644 for files, 0o755 for directories). */
  mode?: number;
  /** Seconds since 1970 (default 0). */
  mtime?: number;
  /** A file's contents. */
  data?: Uint8Array;
  /** A symbolic link's target. */
  target?: string;
}

const BLOCK = 512;
const TYPES: Record<string, TarEntry["type"]> = { "0": "file", "\0": "file", "7": "file", "5": "directory", "2": "symlink" };
const FLAGS: Record<TarEntry["type"], string> = { file: "0", directory: "5", symlink: "2" };
const utf8 = new TextEncoder();
const text = new TextDecoder();

const pad = (n: number): number => Math.ceil(n / BLOCK) * BLOCK;

function field(h: Uint8Array, at: number, len: number): string {
  const s = h.subarray(at, at + len);
  const end = s.indexOf(0);
  return text.decode(end < 0 ? s : s.subarray(0, end));
}

function octal(h: Uint8Array, at: number, len: number): number {
  const s = field(h, at, len).trim();
  return s === "" ? 0 : parseInt(s, 8);
}

function header(name: Uint8Array, flag: string, size: number, mode: number, mtime: number, link: Uint8Array, prefix = new Uint8Array(0)): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const put = (at: number, bytes: Uint8Array): void => h.set(bytes, at);
  const num = (at: number, len: number, v: number): void => put(at, utf8.encode(`${v.toString(8).padStart(len - 1, "0")}\0`));
  put(0, name);
  num(100, 8, mode & 0o7777);
  num(108, 8, 0);
  num(116, 8, 0);
  num(124, 12, size);
  num(136, 12, Math.max(0, Math.floor(mtime)));
  put(148, utf8.encode("        "));
  put(156, utf8.encode(flag));
  put(157, link);
  put(257, utf8.encode("ustar\x0000"));
  put(345, prefix);
  let sum = 0;
  for (const b of h) sum += b;
  put(148, utf8.encode(`${sum.toString(8).padStart(6, "0")}\0 `));
  return h;
}

/** A ustar archive of the entries (long paths as GNU long-name records), ending in two zero blocks. */
export function packTar(entries: readonly TarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    if (!e || typeof e.path !== "string" || e.path === "" || !(e.type in FLAGS)) throw new TypeError(`packTar: bad entry ${JSON.stringify(e?.path)}`);
    const data = e.type === "file" ? (e.data ?? new Uint8Array(0)) : new Uint8Array(0);
    const path = utf8.encode(e.type === "directory" ? `${e.path.replace(/\/+$/, "")}/` : e.path);
    const target = utf8.encode(e.target ?? "");
    if (target.length > 100) throw new RangeError(`packTar: the link target of ${e.path} is over 100 bytes`);
    const mode = e.mode ?? (e.type === "directory" ? 0o755 : e.type === "symlink" ? 0o777 : 0o644);
    if (path.length > 100) {
      const long = new Uint8Array(path.length + 1);
      long.set(path);
      parts.push(header(utf8.encode("././@LongLink"), "L", long.length, 0, 0, new Uint8Array(0)), long, new Uint8Array(pad(long.length) - long.length));
    }
    parts.push(header(path.subarray(0, 100), FLAGS[e.type], data.length, mode, e.mtime ?? 0, target), data, new Uint8Array(pad(data.length) - data.length));
  }
  parts.push(new Uint8Array(2 * BLOCK));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The files, directories and links of a ustar/GNU archive (other entries skipped); throws on a damaged one. */
export function unpackTar(archive: Uint8Array): TarEntry[] {
  const entries: TarEntry[] = [];
  let longName: string | undefined;
  let longLink: string | undefined;
  for (let at = 0; at + BLOCK <= archive.length; ) {
    const h = archive.subarray(at, at + BLOCK);
    if (h.every((b) => b === 0)) break;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
    if (sum !== octal(h, 148, 8)) throw new Error(`unpackTar: the header at byte ${at} has a bad checksum (not a tar archive, or damaged)`);
    const size = octal(h, 124, 12);
    const flag = String.fromCharCode(h[156]);
    const body = archive.subarray(at + BLOCK, at + BLOCK + size);
    if (body.length < size) throw new Error(`unpackTar: the archive ends inside ${field(h, 0, 100)}`);
    at += BLOCK + pad(size);
    if (flag === "L") longName = field(body, 0, body.length);
    else if (flag === "K") longLink = field(body, 0, body.length);
    else {
      const prefix = field(h, 257, 6).startsWith("ustar") ? field(h, 345, 155) : "";
      const name = longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
      const target = longLink ?? field(h, 157, 100);
      longName = longLink = undefined;
      const type = TYPES[flag];
      const path = name.replace(/^(\.\/)+/, "").replace(/\/+$/, "");
      if (!type || path === "" || path === ".") continue;
      entries.push({
        path, type, mode: octal(h, 100, 8), mtime: octal(h, 136, 12),
        ...(type === "file" ? { data: body.slice() } : type === "symlink" ? { target } : {}),
      });
    }
  }
  return entries;
}

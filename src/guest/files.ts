// Files into and out of the guest on a scratch NVMe namespace: the host hot-adds a namespace
// holding the bytes (or an empty one to receive them), the guest finds its block device by NSID
// (Linux adds it on the Namespace Attribute Changed notice) and `dd`s between it and the file
// with direct I/O, and the namespace is removed again. Only the command and a few words go over
// the serial console; the bytes go through the controller, as fast as the guest's disk I/O.
// Directories travel as tar archives (busybox tar in the guest, tar.ts on the host).

import { MemoryBackend, type NvmeV86 } from "../index.ts";
import { withoutKernelLines } from "./exec.ts";
import type { ExecOptions, ExecResult, TransferOptions } from "./types.ts";

const MIB = 1 << 20;

/** What a transfer needs of the guest: its controller and exec() outside the guest's queue (the transfer holds it). */
export interface TransferHost {
  readonly nvme: NvmeV86;
  readonly serial: { raw(): string; onData(fn: (raw: string) => void): () => void };
  execNow(cmd: string, options: ExecOptions): Promise<ExecResult>;
}

/** A guest path as one sh word; refuses what could not be one (empty, control characters). */
function guestPath(path: unknown, what: string): string {
  if (typeof path !== "string" || path === "") throw new TypeError(`${what}: the guest path must be a non-empty string`);
  if (/[\x00-\x1f\x7f]/.test(path)) throw new RangeError(`${what}: the guest path ${JSON.stringify(path)} has a control character`);
  return `'${path.replace(/'/g, "'\\''")}'`;
}

/** The namespace's size for `bytes` of payload: whole MiB (a multiple of every block size), at least one. */
const namespaceBytes = (bytes: number): number => Math.max(MIB, Math.ceil(bytes / MIB) * MIB);

/**
 * sh that sets $dev to the block device of namespace `nsid` once Linux shows it with its size, or
 * says so and fails. Linux scans on the Namespace Attribute Changed notice; if the namespace has
 * not shown after 3 s the driver is asked to rescan too. The guest's clock is the host's wall
 * clock, so on a loaded host (an emulator given little CPU) a scan can take tens of its seconds:
 * the wait ends after 120 s, within the exec's own timeout. Shell builtins only where it loops: a
 * fork costs the emulated guest milliseconds.
 */
const RESCAN = "for c in /sys/class/nvme/nvme*/rescan_controller;do echo 1 >$c;done 2>/dev/null";

function findDevice(nsid: number): string {
  return (
    `n=0;dev=;while :;do for d in /sys/block/nvme*;do read i<$d/nsid;[ "$i" = ${nsid} ]&&read s<$d/size&&[ $s != 0 ]&&[ -b /dev/\${d##*/} ]&&dev=/dev/\${d##*/};done 2>/dev/null;` +
    `[ "$dev" ]&&break;n=$((n+1));[ $n = 30 ]&&${RESCAN};` +
    `[ $n -gt 1200 ]&&{ echo "namespace ${nsid} did not appear in the guest";exit 90;};usleep 99999;done`
  );
}

async function run(host: TransferHost, what: string, script: string, options: TransferOptions): Promise<string> {
  // A subshell: `exit` ends the script, not the guest's login shell.
  const r = await host.execNow(`(${script})`, { timeoutMs: options.timeoutMs ?? 300_000 });
  const out = r.stdout.replace(/@@V86T\d+@@\n?/g, "");
  if (r.exitCode !== 0) throw new Error(`${what}: ${out.trim() || `the guest's commands failed with status ${r.exitCode}`}`);
  return out;
}

/** Resolves when `marker` shows in the console output that arrives from now on (kernel lines left out). */
function watchFor(serial: TransferHost["serial"], marker: string): { seen: Promise<void>; stop: () => void } {
  const from = serial.raw().length;
  let stop = (): void => {};
  const seen = new Promise<void>((resolve) => {
    const check = (): void => {
      if (!withoutKernelLines(serial.raw().slice(from)).includes(marker)) return;
      stop();
      resolve();
    };
    stop = serial.onData(check);
  });
  return { seen, stop };
}

/**
 * Adds a scratch namespace on `backend` and runs `script` ($dev: its block device) in one exec:
 * when the script is done the guest prints a marker, the host removes the namespace, and the
 * guest waits until Linux has dropped the device (the next transfer may get the same NSID; after
 * 3 s it asks for a rescan, as findDevice does) before the exec ends. The namespace is removed whatever happened.
 */
async function withScratch<T>(host: TransferHost, what: string, backend: MemoryBackend, script: string, options: TransferOptions, after: () => Promise<T>): Promise<T> {
  const nsid = host.nvme.addNamespace({ backend });
  // printf makes the marker at run time: the echoed command line holds "%s" instead of the NSID.
  const done = watchFor(host.serial, `@@V86T${nsid}@@`);
  let removed: Promise<unknown> | undefined;
  const remove = (): Promise<unknown> => (removed ??= host.nvme.removeNamespace(nsid));
  // A failed removal is reported by the `finally` below, which awaits the same promise.
  done.seen.then(remove).catch(() => undefined);
  try {
    await run(
      host, what,
      `${findDevice(nsid)};(${script});st=$?;printf '@@V86T%s@@\\n' ${nsid};n=0;` +
        `while [ -e /sys/block/\${dev##*/} ]&&[ $n -lt 2400 ];do n=$((n+1));[ $n = 120 ]&&${RESCAN};usleep 25000;done;exit $st`,
      options,
    );
    return await after();
  } finally {
    done.stop();
    await remove();
  }
}

function payload(data: unknown, what: string): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new TypeError(`${what}: the data must be a Uint8Array or an ArrayBuffer`);
}

/** Writes `data` into the guest file `path` (created or replaced; its directory must exist). */
export async function putFile(host: TransferHost, path: string, data: Uint8Array | ArrayBuffer, options: TransferOptions = {}): Promise<void> {
  const what = `putFile ${path}`;
  const p = guestPath(path, "putFile");
  const bytes = payload(data, what);
  const backend = new MemoryBackend(namespaceBytes(bytes.byteLength), bytes);
  // The whole namespace is copied (whole blocks, for direct I/O), then cut to the payload's length.
  // Direct writes into the file too (four times faster than through the page cache of a small
  // guest); a file system that refuses them (tmpfs) gets buffered ones.
  const check = `p=${p}; d=$(dirname "$p"); [ -d "$d" ] || { echo "the guest has no directory $d"; exit 1; }; [ -d "$p" ] && { echo "$p is a directory in the guest"; exit 1; }`;
  await withScratch(host, what, backend, `${check}; dd if=$dev of="$p" bs=1M iflag=direct oflag=direct 2>/dev/null || dd if=$dev of="$p" bs=1M iflag=direct 2>/dev/null || { echo "dd from $dev failed"; exit 1; }; truncate -s ${bytes.byteLength} "$p"`, options, async () => undefined);
}

/** The guest file `path`'s bytes. */
export async function getFile(host: TransferHost, path: string, options: TransferOptions = {}): Promise<Uint8Array> {
  const what = `getFile ${path}`;
  const p = guestPath(path, "getFile");
  const out = await run(host, what, `p=${p}; [ -f "$p" ] || { [ -e "$p" ] && echo "$p is not a regular file in the guest" || echo "the guest has no file $p"; exit 1; }; stat -c @%s@ "$p"`, options);
  const size = Number(/@(\d+)@/.exec(out)?.[1]);
  if (!Number.isSafeInteger(size)) throw new Error(`${what}: the guest did not say the file's size (${out.trim()})`);
  const backend = new MemoryBackend(namespaceBytes(size));
  // conv=sync pads the last block with zeros: direct I/O writes whole blocks. The file is read
  // directly too where its file system allows.
  return withScratch(host, what, backend, `dd if=${p} of=$dev bs=1M conv=sync iflag=direct oflag=direct 2>/dev/null || dd if=${p} of=$dev bs=1M conv=sync oflag=direct 2>/dev/null || { echo "dd to $dev failed"; exit 1; }`, options, () => backend.read(0, size));
}

/** Unpacks a tar archive into the guest directory `dir` (made, with its parents, when missing). */
export async function putTar(host: TransferHost, dir: string, tar: Uint8Array | ArrayBuffer, options: TransferOptions = {}): Promise<void> {
  const what = `putDir ${dir}`;
  const p = guestPath(dir, "putDir");
  const bytes = payload(tar, what);
  const backend = new MemoryBackend(namespaceBytes(bytes.byteLength), bytes);
  await withScratch(host, what, backend, `mkdir -p ${p} && dd if=$dev bs=1M iflag=direct 2>/dev/null | head -c ${bytes.byteLength} | tar -x -C ${p}`, options, async () => undefined);
}

/** A tar archive of the guest directory `dir`'s contents (paths relative to it, "./..."). */
export async function getTar(host: TransferHost, dir: string, options: TransferOptions = {}): Promise<Uint8Array> {
  const what = `getDir ${dir}`;
  const p = guestPath(dir, "getDir");
  // Its size first (the namespace is made to fit); tar writes the same archive twice over an unchanged tree.
  const out = await run(host, what, `p=${p}; [ -d "$p" ] || { echo "the guest has no directory $p"; exit 1; }; echo @$(tar -c -C "$p" . | wc -c)@`, options);
  const size = Number(/@(\d+)@/.exec(out)?.[1]);
  if (!Number.isSafeInteger(size) || size === 0) throw new Error(`${what}: tar in the guest made no archive (${out.trim()})`);
  const backend = new MemoryBackend(namespaceBytes(size));
  return withScratch(
    host, what, backend,
    `set -o pipefail; tar -c -C ${p} . | dd of=$dev bs=1M iflag=fullblock conv=sync oflag=direct 2>/dev/null || { echo "tar or dd to $dev failed"; exit 1; }`,
    options, () => backend.read(0, size),
  );
}

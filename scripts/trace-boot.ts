// Boots the guest headless under Node (v86-nvme/node's bootGuest) to its shell prompt, notes which
// byte ranges of the image the boot read, in the order first read, and writes them as a boot trace
// next to the image (`<image>.boot-trace.json`), which the HTTP disk then streams ahead of the guest.
//
//   trace-boot.ts [--image public/guest/disk.img] [--out FILE] [--reads FILE] [--timeout s]
//
// --reads also writes every read of the image as it came ([offset, length] in order), for replays.
// The image is identified by its size, modification time (what servers send as Last-Modified) and
// SHA-256: a trace whose image changed is ignored.

import { createHash } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BootTraceRecorder } from "../src/backends/boot-trace.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import { bootGuest } from "../src/node/index.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function usage(msg: string): never {
  process.stderr.write(`trace-boot: ${msg}\nusage: trace-boot.ts [--image IMG] [--out FILE] [--reads FILE] [--timeout s]\n`);
  process.exit(2);
}

const args = { image: join(ROOT, "public/guest/disk.img"), out: "", reads: "", timeout: 300 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const k = argv[i];
  const v = (): string => (i + 1 < argv.length ? argv[++i] : usage(`${k} needs a value`));
  if (k === "--image") args.image = v();
  else if (k === "--out") args.out = v();
  else if (k === "--reads") args.reads = v();
  else if (k === "--timeout") args.timeout = Number(v());
  else if (k !== "--") usage(`unknown argument ${k}`);
}
if (!(args.timeout > 0)) usage("--timeout is seconds");
const out = args.out || `${args.image}.boot-trace.json`;

let bytes: Uint8Array;
try {
  bytes = readFileSync(args.image);
} catch (e) {
  usage(`cannot read the image ${args.image}: ${(e as Error).message}`);
}
const size = bytes.byteLength;
const recorder = new BootTraceRecorder(size);
const reads: [number, number][] = [];

// The recording wrapper: the guest's disk is a copy-on-write layer over a MemoryBackend of the
// image; every read that reaches the image (not the guest's own writes) is noted. (Its read()
// goes through tryRead().)
const { tryRead } = MemoryBackend.prototype;
MemoryBackend.prototype.tryRead = function (offset, dst) {
  if (this.byteLength === size) {
    recorder.note(offset, dst.length);
    reads.push([offset, dst.length]);
  }
  return tryRead.call(this, offset, dst);
};

const started = performance.now();
const guest = await bootGuest(
  { image: bytes, bios: join(ROOT, "public/bios/bios-256k.bin"), vgaBios: join(ROOT, "public/bios/vgabios-stdvga.bin") },
  { timeoutMs: args.timeout * 1000 },
);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
await guest.stop();

const trace = recorder.trace({
  lastModified: statSync(args.image).mtime.toUTCString(),
  sha256: createHash("sha256").update(bytes).digest("hex"),
});
writeFileSync(out, `${JSON.stringify(trace)}\n`);
if (args.reads) writeFileSync(args.reads, `${JSON.stringify(reads)}\n`);
process.stdout.write(
  `trace-boot: booted in ${seconds} s; ${reads.length} reads touched ${(recorder.bytes / 2 ** 20).toFixed(1)} MiB in ${trace.ranges.length} ranges; wrote ${out}\n`,
);
process.exit(0);

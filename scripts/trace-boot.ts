// Boots the guest headless under Node (v86-nvme/node's bootGuest) to its shell prompt, notes which
// byte ranges of the image the boot read, in the order first read, and writes them as a boot trace
// next to the image (`<image>.boot-trace.json`), which the HTTP disk then streams ahead of the guest.
//
//   trace-boot.ts [--image public/guest/disk.img] [--out FILE] [--reads FILE] [--timeout s]
//
// --reads also writes every read of the image as it came ([offset, length] in order), for replays.
// The image is identified by its size, modification time (what servers send as Last-Modified) and
// SHA-256: a trace whose image changed is ignored.

import { writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bootGuest } from "../src/node/index.ts";
import { fail, parseFlags, type Command } from "./cli-args.ts";
import { imageReads } from "./image-reads.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const COMMAND = {
  name: "trace-boot",
  run: "npm run trace:boot --",
  flags: {
    image: { type: "string", arg: "IMG", help: "the image (default public/guest/disk.img)" },
    out: { type: "string", arg: "FILE", help: "the trace (default IMG.boot-trace.json)" },
    reads: { type: "string", arg: "FILE", help: "also every read of the image, [offset, length] in order" },
    timeout: { type: "string", arg: "s", help: "seconds to the shell prompt (default 300)" },
  },
} as const satisfies Command;
const flags = parseFlags(COMMAND);
const image = flags.image ?? join(ROOT, "public/guest/disk.img");
const timeout = Number(flags.timeout ?? 300);
if (!(timeout > 0)) fail(COMMAND, "--timeout is seconds");
const out = flags.out ?? `${image}.boot-trace.json`;
const rec = imageReads(image, (msg) => fail(COMMAND, msg));

const started = performance.now();
const guest = await bootGuest(
  { image: rec.bytes, bios: join(ROOT, "public/bios/bios-256k.bin"), vgaBios: join(ROOT, "public/bios/vgabios-stdvga.bin") },
  { timeoutMs: timeout * 1000 },
);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
await guest.stop();

const ranges = rec.write(out);
if (flags.reads) writeFileSync(flags.reads, `${JSON.stringify(rec.reads)}\n`);
process.stdout.write(
  `trace-boot: booted in ${seconds} s; ${rec.reads.length} reads touched ${(rec.recorder.bytes / 2 ** 20).toFixed(1)} MiB in ${ranges} ranges; wrote ${out}\n`,
);
process.exit(0);

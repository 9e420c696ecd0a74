// Records a resume trace: resumes the image's saved state under Node (`<image>.state.zst`, from
// `npm run make:state`), runs what a visitor of the demo page runs first (the shell's own commands,
// `nvme list`), and writes the byte ranges of the image those reads touched, in the
// order first read, as `<image>.resume-trace.json` — a boot trace in form (src/backends/boot-trace.ts).
// The page's HTTP disk streams it ahead of a resumed guest as it does the boot trace for a cold
// boot. The state was taken after the guest dropped its page cache, so these reads come from the
// disk again after every resume.
//
//   tsx scripts/trace-resume.ts [--image public/guest/disk.img] [--state FILE] [--out FILE]

import { createHash } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BootTraceRecorder } from "../src/backends/boot-trace.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import { bootGuest } from "../src/node/index.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * What the guest is asked to do after the resume: the page's first commands (its console suggests
 * `nvme list`). Not fio: its start-up reads 26 MiB (Debian's fio links librados, librbd, …), four
 * times the rest, which on a slow link would crowd out what the guest asks for first; the disk
 * reads it on demand when a workload starts.
 */
const COMMANDS = ["true", "ls / /root", "nvme list", "nvme id-ctrl /dev/nvme0 > /dev/null", "nvme smart-log /dev/nvme0 > /dev/null"];

function usage(msg: string): never {
  process.stderr.write(`trace-resume: ${msg}\nusage: trace-resume.ts [--image IMG] [--state FILE] [--out FILE]\n`);
  process.exit(2);
}

const args = { image: join(ROOT, "public/guest/disk.img"), state: "", out: "" };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const k = argv[i];
  const v = (): string => (i + 1 < argv.length ? argv[++i] : usage(`${k} needs a value`));
  if (k === "--image") args.image = v();
  else if (k === "--state") args.state = v();
  else if (k === "--out") args.out = v();
  else if (k !== "--") usage(`unknown argument ${k}`);
}
const statePath = args.state || `${args.image}.state.zst`;
const out = args.out || `${args.image}.resume-trace.json`;

let bytes: Uint8Array;
try {
  bytes = readFileSync(args.image);
} catch (e) {
  usage(`cannot read the image ${args.image}: ${(e as Error).message}`);
}
const size = bytes.byteLength;
const recorder = new BootTraceRecorder(size);
let recording = false;

// As in trace-boot.ts: every read that reaches the image (not the guest's own writes) is noted,
// from the moment the resumed guest runs.
const { tryRead } = MemoryBackend.prototype;
MemoryBackend.prototype.tryRead = function (offset, dst) {
  if (recording && this.byteLength === size) recorder.note(offset, dst.length);
  return tryRead.call(this, offset, dst);
};

const started = performance.now();
const guest = await bootGuest({ image: bytes, bios: join(ROOT, "public/bios/bios-256k.bin"), vgaBios: join(ROOT, "public/bios/vgabios-stdvga.bin"), state: statePath });
recording = true;
const resumed = performance.now();
await new Promise((r) => setTimeout(r, 2000)); // whatever the guest does on its own once it runs
const steps: string[] = [`idle 2 s: ${(recorder.bytes / 1024).toFixed(0)} KiB`];
for (const cmd of COMMANDS) {
  const before = recorder.bytes;
  const r = await guest.exec(cmd, { timeoutMs: 60_000 });
  if (r.exitCode !== 0) process.stderr.write(`trace-resume: \`${cmd}\` exited ${r.exitCode}\n`);
  steps.push(`${cmd}: ${((recorder.bytes - before) / 1024).toFixed(0)} KiB`);
}
const seconds = ((performance.now() - resumed) / 1000).toFixed(1);
await guest.stop();

const trace = recorder.trace({
  lastModified: statSync(args.image).mtime.toUTCString(),
  sha256: createHash("sha256").update(bytes).digest("hex"),
});
writeFileSync(out, `${JSON.stringify(trace)}\n`);
process.stdout.write(`trace-resume: ${steps.join("; ")}\n`);
process.stdout.write(
  `trace-resume: resumed in ${((resumed - started) / 1000).toFixed(1)} s; ${seconds} s of commands read ${(recorder.bytes / 2 ** 20).toFixed(2)} MiB in ${trace.ranges.length} ranges; wrote ${out}\n`,
);
process.exit(0);

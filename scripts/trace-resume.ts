// Records a resume trace: resumes the image's saved state under Node (`<image>.state.zst`, from
// `npm run make:state`), runs what a visitor of the demo page runs first (the shell's own commands,
// `nvme list`), and writes the byte ranges of the image those reads touched, in the
// order first read, as `<image>.resume-trace.json` — a boot trace in form (src/backends/boot-trace.ts).
// The page's HTTP disk streams it ahead of a resumed guest as it does the boot trace for a cold
// boot. The state was taken after the guest dropped its page cache, so these reads come from the
// disk again after every resume.
//
//   tsx scripts/trace-resume.ts [--image public/guest/disk.img] [--state FILE] [--out FILE]

import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bootGuest } from "../src/node/index.ts";
import { fail, parseFlags, type Command } from "./cli-args.ts";
import { imageReads } from "./image-reads.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * What the guest is asked to do after the resume: the page's first commands (its console suggests
 * `nvme list`). Not fio: its binary and libraries are more than the rest together, which on a slow
 * link would crowd out what the guest asks for first; the disk reads them on demand when a
 * workload starts.
 */
const COMMANDS = ["true", "ls / /root", "nvme list", "nvme id-ctrl /dev/nvme0 > /dev/null", "nvme smart-log /dev/nvme0 > /dev/null"];

const COMMAND = {
  name: "trace-resume",
  run: "npm run trace:resume --",
  flags: {
    image: { type: "string", arg: "IMG", help: "the image (default public/guest/disk.img)" },
    state: { type: "string", arg: "FILE", help: "the state to resume (default IMG.state.zst)" },
    out: { type: "string", arg: "FILE", help: "the trace (default IMG.resume-trace.json)" },
  },
} as const satisfies Command;
const flags = parseFlags(COMMAND);
const image = flags.image ?? join(ROOT, "public/guest/disk.img");
const statePath = flags.state ?? `${image}.state.zst`;
const out = flags.out ?? `${image}.resume-trace.json`;
// Noted from the moment the resumed guest runs.
const rec = imageReads(image, (msg) => fail(COMMAND, msg));
rec.recording = false;

const started = performance.now();
const guest = await bootGuest({ image: rec.bytes, bios: join(ROOT, "public/bios/bios-256k.bin"), vgaBios: join(ROOT, "public/bios/vgabios-stdvga.bin"), state: statePath });
rec.recording = true;
const resumed = performance.now();
await new Promise((r) => setTimeout(r, 2000)); // whatever the guest does on its own once it runs
const steps: string[] = [`idle 2 s: ${(rec.recorder.bytes / 1024).toFixed(0)} KiB`];
for (const cmd of COMMANDS) {
  const before = rec.recorder.bytes;
  const r = await guest.exec(cmd, { timeoutMs: 60_000 });
  if (r.exitCode !== 0) process.stderr.write(`trace-resume: \`${cmd}\` exited ${r.exitCode}\n`);
  steps.push(`${cmd}: ${((rec.recorder.bytes - before) / 1024).toFixed(0)} KiB`);
}
const seconds = ((performance.now() - resumed) / 1000).toFixed(1);
await guest.stop();

const ranges = rec.write(out);
process.stdout.write(`trace-resume: ${steps.join("; ")}\n`);
process.stdout.write(
  `trace-resume: resumed in ${((resumed - started) / 1000).toFixed(1)} s; ${seconds} s of commands read ${(rec.recorder.bytes / 2 ** 20).toFixed(2)} MiB in ${ranges} ranges; wrote ${out}\n`,
);
process.exit(0);

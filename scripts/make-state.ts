// Makes a state file for an image: boots it cold under Node and saves the machine at its first
// shell prompt as <image>.state.zst, which bootGuest({ state }), the Playwright fixture and the
// page resume in a second instead of booting.
//
//   npm run make:state -- --image IMG [--bios F] [--vga-bios F] [--memory MiB] [--out FILE]
//                         [--prompt STR] [--timeout s] [--level 1-19]
//
// zstd level 19 by default: the file is made once and downloaded often (about a minute of
// compression for ~15 % less than level 9).

import { parseArgs } from "node:util";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bootGuest } from "../src/node/index.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const USAGE = "usage: make-state.ts --image IMG [--bios F] [--vga-bios F] [--memory MiB] [--out FILE] [--prompt STR] [--timeout s] [--level 1-19]";

function fail(msg: string): never {
  process.stderr.write(`make-state: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      image: { type: "string" },
      bios: { type: "string", default: join(ROOT, "public/bios/bios-256k.bin") },
      "vga-bios": { type: "string", default: join(ROOT, "public/bios/vgabios-stdvga.bin") },
      memory: { type: "string" },
      out: { type: "string" },
      prompt: { type: "string" },
      timeout: { type: "string", default: "240" },
      level: { type: "string", default: "19" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: false,
  }));
} catch (e) {
  fail((e as Error).message);
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (!values.image) fail("--image is required");
const memory = values.memory === undefined ? undefined : Number(values.memory);
if (memory !== undefined && !(Number.isInteger(memory) && memory >= 32 && memory <= 2048)) fail("--memory is MiB, 32..2048");
const timeout = Number(values.timeout);
if (!(timeout > 0)) fail("--timeout is seconds");

const t0 = performance.now();
const guest = await bootGuest(
  { image: values.image, bios: values.bios, vgaBios: values["vga-bios"], memory: memory === undefined ? undefined : memory << 20, prompt: values.prompt, state: false },
  { timeoutMs: timeout * 1000 },
);
try {
  const saved = await guest.saveState(values.out, { level: Number(values.level) });
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  process.stdout.write(`make-state: ${saved.path}: ${(saved.bytes / 1e6).toFixed(1)} MB (booted in ${(guest.bootMs / 1000).toFixed(1)} s, ${secs} s in all)\n`);
} finally {
  await guest.stop();
}

// Makes a state file for an image: boots it cold under Node and saves the machine at its first
// shell prompt as <image>.state.zst, which bootGuest({ state }), the Playwright fixture and the
// page resume in a second instead of booting.
//
//   npm run make:state -- --image IMG [--bios F] [--vga-bios F] [--memory MiB] [--out FILE]
//                         [--prompt STR] [--timeout s] [--level 1-19]
//
// zstd level 19 by default: the file is made once and downloaded often (about a minute of
// compression for ~15 % less than level 9).

import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bootGuest } from "../src/node/index.ts";
import { fail, parseFlags, type Command } from "./cli-args.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const COMMAND = {
  name: "make-state",
  run: "npm run make:state --",
  flags: {
    image: { type: "string", arg: "IMG", help: "the image to boot (required); the state goes to IMG.state.zst" },
    bios: { type: "string", arg: "F", help: "SeaBIOS (default public/bios/bios-256k.bin)" },
    "vga-bios": { type: "string", arg: "F", help: "the VGA BIOS (default public/bios/vgabios-stdvga.bin)" },
    memory: { type: "string", arg: "MiB", help: "guest RAM, 32-2048 (default 128)" },
    out: { type: "string", arg: "FILE", help: "where to write the state (default IMG.state.zst)" },
    prompt: { type: "string", arg: "STR", help: 'the shell prompt to wait for (default "guest# ")' },
    timeout: { type: "string", arg: "s", help: "seconds to the prompt (default 240)" },
    level: { type: "string", arg: "1-19", help: "zstd level (default 19)" },
  },
} as const satisfies Command;
const values = parseFlags(COMMAND);
if (!values.image) fail(COMMAND, "--image is required");
const memory = values.memory === undefined ? undefined : Number(values.memory);
if (memory !== undefined && !(Number.isInteger(memory) && memory >= 32 && memory <= 2048)) fail(COMMAND, "--memory is MiB, 32..2048");
const timeout = Number(values.timeout ?? 240);
if (!(timeout > 0)) fail(COMMAND, "--timeout is seconds");

const t0 = performance.now();
const guest = await bootGuest(
  { image: values.image, bios: values.bios ?? join(ROOT, "public/bios/bios-256k.bin"), vgaBios: values["vga-bios"] ?? join(ROOT, "public/bios/vgabios-stdvga.bin"), memory: memory === undefined ? undefined : memory << 20, prompt: values.prompt, state: false },
  { timeoutMs: timeout * 1000 },
);
try {
  const saved = await guest.saveState(values.out, { level: Number(values.level ?? 19) });
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  process.stdout.write(`make-state: ${saved.path}: ${(saved.bytes / 1e6).toFixed(1)} MB (booted in ${(guest.bootMs / 1000).toFixed(1)} s, ${secs} s in all)\n`);
} finally {
  await guest.stop();
}

// Boots v86 headless with the NVMe controller and prints the guest's serial console.
//
//   boot.ts [--disk public/guest/disk.img] [--kernel F --initrd F --cmdline S] [--memory MiB]
//           [--ide] [--timeout s] [--send 'cmd' ...] [--until 'regex'] [--quiet-stats]
//
// The disk image becomes NVMe namespace 1 (or v86's IDE hda with --ide; the image's syslinux
// default is then switched to its "ide" label in memory). Each --send is typed after the next
// shell prompt "guest# ". Exit status: 0 when --until matched (or, without --until, when the
// last --send's command returned to the prompt, or at the timeout when nothing was asked), 1 on
// a timeout while waiting, 2 when the emulator failed. Device counters go to stderr at the end.
// TypeScript with erasable syntax only: runs under `node --experimental-strip-types` (Node 22.6+)
// and, on Node 20, under tsx.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { V86 } from "v86";
import { MemoryBackend } from "../src/backends/memory.ts";
import type { NvmeV86 } from "../src/v86/attach.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const PROMPT = "guest# ";
const CMDLINE = "console=ttyS0,115200 rw tsc=reliable mitigations=off random.trust_cpu=on quiet";

interface Args {
  disk?: string;
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  memory: number;
  ide: boolean;
  timeout: number;
  send: string[];
  until?: RegExp;
  stats: boolean;
}

function usage(msg: string): never {
  process.stderr.write(`boot: ${msg}\nusage: boot.ts [--disk IMG] [--kernel F --initrd F --cmdline S] [--memory MiB] [--ide] [--timeout s] [--send CMD]... [--until REGEX] [--quiet-stats]\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Args = { memory: 256, ide: false, timeout: 120, send: [], stats: true };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = (): string => (i + 1 < argv.length ? argv[++i] : usage(`${k} needs a value`));
    if (k === "--disk") a.disk = v();
    else if (k === "--kernel") a.kernel = v();
    else if (k === "--initrd") a.initrd = v();
    else if (k === "--cmdline") a.cmdline = v();
    else if (k === "--memory") a.memory = Number(v());
    else if (k === "--timeout") a.timeout = Number(v());
    else if (k === "--send") a.send.push(v());
    else if (k === "--until") a.until = new RegExp(v());
    else if (k === "--ide") a.ide = true;
    else if (k === "--quiet-stats") a.stats = false;
    else if (k === "--") continue; // npm run boot -- ...
    else usage(`unknown argument ${k}`);
  }
  if (!a.disk && !a.kernel) a.disk = join(ROOT, "public/guest/disk.img");
  if (!(a.memory >= 16 && a.memory <= 2048)) usage("--memory is MiB, 16..2048");
  if (!(a.timeout > 0)) usage("--timeout is seconds");
  if (a.kernel && a.ide && !a.disk) usage("--ide needs --disk");
  return a;
}

function file(path: string): ArrayBuffer {
  const b = readFileSync(path);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/** Switches the image's syslinux default label from nvme to ide (same length, patched in place). */
function selectIdeLabel(img: Uint8Array): boolean {
  const from = new TextEncoder().encode("DEFAULT nvme");
  const to = new TextEncoder().encode("DEFAULT  ide");
  for (let i = 0; i + from.length <= Math.min(img.length, 64 << 20); i++) {
    let j = 0;
    while (j < from.length && img[i + j] === from[j]) j++;
    if (j === from.length) {
      img.set(to, i);
      return true;
    }
  }
  return false;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const wasm = createRequire(import.meta.url).resolve("v86/build/v86.wasm");
  const disk = args.disk ? file(args.disk) : undefined;
  if (disk && args.ide && !args.kernel && !selectIdeLabel(new Uint8Array(disk))) {
    process.stderr.write("boot: no 'DEFAULT nvme' line in the image; booting its default label from IDE\n");
  }
  const options: Record<string, unknown> = {
    wasm_path: wasm,
    bios: { buffer: file(join(ROOT, "public/bios/bios-256k.bin")) },
    vga_bios: { buffer: file(join(ROOT, "public/bios/vgabios-stdvga.bin")) },
    memory_size: args.memory << 20,
    autostart: false,
    disable_speaker: true,
  };
  if (disk && args.ide) options.hda = { buffer: disk };
  if (args.kernel) {
    options.bzimage = { buffer: file(args.kernel) };
    if (args.initrd) options.initrd = { buffer: file(args.initrd) };
    options.cmdline = args.cmdline ?? `${CMDLINE} root=${args.ide ? "/dev/sda2" : "/dev/nvme0n1p2"}`;
  }

  const started = performance.now();
  const emulator = new V86(options as never);
  let nvme: NvmeV86 | undefined;
  let done = false;

  function finish(code: number, why: string): void {
    if (done) return;
    done = true;
    flush();
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    process.stderr.write(`\nboot: ${why} after ${secs} s\n`);
    if (args.stats && nvme) {
      process.stderr.write(`boot: adapter ${JSON.stringify(nvme.counters)}\n`);
      process.stderr.write(`boot: controller ${JSON.stringify(nvme.controller.counters)}\n`);
    }
    void emulator.destroy().finally(() => process.exit(code));
    setTimeout(() => process.exit(code), 2000).unref();
  }

  // Serial output: batched to stdout, scanned for the prompt and the --until pattern.
  let transcript = "";
  let pending = "";
  let prompts = 0;
  let sent = 0;
  let flushQueued = false;
  function flush(): void {
    flushQueued = false;
    if (!pending) return;
    process.stdout.write(pending);
    const old = transcript.length;
    transcript += pending;
    pending = "";
    // The whole transcript, so a pattern may span the boot (e.g. a marker seen twice across a reboot).
    if (args.until && args.until.test(transcript)) return finish(0, `matched ${args.until}`);
    for (let at = transcript.indexOf(PROMPT, Math.max(0, old - PROMPT.length + 1)); at >= 0; at = transcript.indexOf(PROMPT, at + PROMPT.length)) {
      prompts++;
    }
    while (sent < args.send.length && prompts > sent) {
      emulator.serial0_send(`${args.send[sent]}\n`);
      sent++;
    }
    if (!args.until && args.send.length > 0 && sent === args.send.length && prompts > sent) finish(0, "commands done");
  }
  emulator.add_listener("serial0-output-byte", (byte: number) => {
    pending += String.fromCharCode(byte);
    if (!flushQueued) {
      flushQueued = true;
      setImmediate(flush);
    }
  });

  process.on("uncaughtException", (e) => {
    process.stderr.write(`\nboot: emulator failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    finish(2, "emulator failure");
  });

  emulator.add_listener("emulator-loaded", async () => {
    try {
      if (disk && !args.ide) {
        const { attachNvme } = await import("../src/v86/attach.ts"); // not loaded for --ide
        nvme = await attachNvme(emulator, {
          drive: MemoryBackend.fromBuffer(disk),
          serial: "V86BOOT0001",
          log: (level, msg) => process.stderr.write(`[${level}] ${msg}\n`), // stdout is the console
        });
      }
      emulator.run();
    } catch (e) {
      process.stderr.write(`boot: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      finish(2, "attach failed");
    }
  });

  setTimeout(() => {
    const waiting = args.until !== undefined || sent < args.send.length || args.send.length > 0;
    finish(waiting ? 1 : 0, waiting ? "timeout" : "run time over");
  }, args.timeout * 1000);
}

void main();

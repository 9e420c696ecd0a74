// Boots a guest headless under Node (v86-nvme/node's bootGuest) and prints its serial console.
//
//   npm run boot [-- --disk IMG --send 'cmd' --send 'cmd' --until 'regex' ...]   (--help: the flags)
//
// The disk image becomes NVMe namespace 1 (or v86's IDE hda with --ide, no controller; the
// image's syslinux default is then switched to its "ide" label in memory). Each --send is typed
// at the shell prompt "guest# " once the previous one has returned to it. Exit status: 0 when
// --until matched (or, without --until, when the last --send's command returned to the prompt,
// or at the timeout when nothing was asked), 1 on a timeout while waiting, 2 when the emulator
// failed. Device counters go to stderr at the end.

import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bootGuest, type Guest } from "../src/node/index.ts";
import { fail, parseFlags } from "./cli-args.ts";
import { loadDisk } from "../test/project-guest/image.ts";
import { selectIdeLabel } from "../test/project-guest/ide-label.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const PROMPT = "guest# ";
const CMDLINE = "console=ttyS0,115200 rw tsc=reliable mitigations=off random.trust_cpu=on quiet";

interface Args {
  disk: string;
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  memory?: number;
  ide: boolean;
  timeout: number;
  send: string[];
  until?: RegExp;
  stats: boolean;
}

const COMMAND = {
  name: "boot",
  run: "npm run boot --",
  flags: {
    disk: { type: "string", arg: "IMG", help: "the disk image (default public/guest/disk.img)" },
    kernel: { type: "string", arg: "F", help: "boot this kernel directly (with --initrd and --cmdline)" },
    initrd: { type: "string", arg: "F", help: "the initrd for --kernel" },
    cmdline: { type: "string", arg: "S", help: "the kernel command line for --kernel (default: serial console, quiet, root on the disk)" },
    memory: { type: "string", arg: "MiB", help: "guest RAM, 32..2048 (default: bootGuest's)" },
    ide: { type: "boolean", help: "the image as v86's IDE hda (syslinux's \"ide\" label), no NVMe controller" },
    timeout: { type: "string", arg: "S", help: "seconds before giving up (default 120)" },
    send: { type: "string", arg: "CMD", multiple: true, help: "typed at the shell prompt once the previous one returned to it" },
    until: { type: "string", arg: "REGEX", help: "stop (exit 0) once the serial output matches" },
    "quiet-stats": { type: "boolean", help: "no device counters on stderr at the end" },
  },
  notes: ["e.g. npm run boot -- --send 'uname -a' --send 'cat /proc/partitions'"],
} as const;

function readArgs(): Args {
  const v = parseFlags(COMMAND);
  const a: Args = {
    disk: v.disk ?? join(ROOT, "public/guest/disk.img"),
    kernel: v.kernel,
    initrd: v.initrd,
    cmdline: v.cmdline,
    memory: v.memory === undefined ? undefined : Number(v.memory),
    ide: v.ide ?? false,
    timeout: Number(v.timeout ?? 120),
    send: v.send,
    until: v.until === undefined ? undefined : new RegExp(v.until),
    stats: !v["quiet-stats"],
  };
  if (a.memory !== undefined && !(a.memory >= 32 && a.memory <= 2048)) fail(COMMAND, "--memory is MiB, 32..2048");
  if (!(a.timeout > 0)) fail(COMMAND, "--timeout is seconds");
  return a;
}

async function main(): Promise<void> {
  const args = readArgs();
  const started = performance.now();
  const deadline = started + args.timeout * 1000;
  let guest: Guest | undefined;
  let done = false;

  function finish(code: number, why: string): void {
    if (done) return;
    done = true;
    process.stderr.write(`\nboot: ${why} after ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    if (args.stats && guest && !args.ide) {
      const c = guest.counters();
      process.stderr.write(`boot: adapter ${JSON.stringify(c.adapter)}\nboot: controller ${JSON.stringify(c.controller)}\n`);
    }
    setTimeout(() => process.exit(code), 2000).unref();
    void (guest?.stop() ?? Promise.resolve()).finally(() => process.exit(code));
  }
  process.on("uncaughtException", (e) => {
    process.stderr.write(`\nboot: emulator failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    finish(2, "emulator failure");
  });

  let image = loadDisk(args.disk);
  if (args.ide && !args.kernel) {
    image = image.slice();
    try {
      selectIdeLabel(image);
    } catch {
      process.stderr.write("boot: no 'DEFAULT nvme' line in the image; booting its default label from IDE\n");
    }
  }
  const until = args.until;
  const remaining = (): number => Math.max(1, deadline - performance.now());
  try {
    guest = await bootGuest(
      {
        image,
        bios: join(ROOT, "public/bios/bios-256k.bin"),
        vgaBios: join(ROOT, "public/bios/vgabios-stdvga.bin"),
        memory: args.memory === undefined ? undefined : args.memory << 20,
        ide: args.ide,
        nvme: args.ide ? false : { serial: "V86BOOT0001" },
        kernel: args.kernel,
        initrd: args.initrd,
        cmdline: args.kernel ? (args.cmdline ?? `${CMDLINE} root=${args.ide ? "/dev/sda2" : "/dev/nvme0n1p2"}`) : undefined,
        log: (level, msg) => process.stderr.write(`[${level}] ${msg}\n`), // stdout is the console
        onEmulator: (emulator) => {
          // The console as it arrives, batched per burst.
          let pending = "";
          emulator.add_listener("serial0-output-byte", (b) => {
            if (!pending) setImmediate(() => {
              process.stdout.write(pending);
              pending = "";
            });
            pending += String.fromCharCode(b);
          });
        },
      },
      { timeoutMs: args.timeout * 1000, readyWhen: (s) => (until?.test(s.text()) ?? false) || s.text().includes(PROMPT) },
    );
    const serial = guest.serial;
    const matched = until ? serial.waitFor(until, { timeoutMs: remaining() }).then(() => "until" as const) : new Promise<never>(() => {});
    const sends = (async () => {
      for (const cmd of args.send) {
        const from = serial.text().length;
        serial.send(`${cmd}\n`);
        await serial.waitFor(PROMPT, { from, timeoutMs: remaining() });
      }
      return "sent" as const;
    })();
    sends.catch(() => undefined); // with --until, a send that times out is not the verdict
    if (until) {
      await matched;
      return finish(0, `matched ${until}`);
    }
    if (args.send.length > 0) {
      await Promise.race([sends, matched]);
      return finish(0, "commands done");
    }
    await new Promise((r) => setTimeout(r, remaining()));
    finish(0, "run time over");
  } catch (e) {
    process.stderr.write(`boot: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}\n`);
    finish(/timed out/.test(String(e)) ? 1 : 2, /timed out/.test(String(e)) ? "timeout" : "failure");
  }
}

void main();

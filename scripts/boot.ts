// Boots a guest headless under Node (v86-nvme/node's bootGuest) and prints its serial console.
//
//   boot.ts [--disk public/guest/disk.img] [--kernel F --initrd F --cmdline S] [--memory MiB]
//           [--ide] [--timeout s] [--send 'cmd' ...] [--until 'regex'] [--quiet-stats]
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

function usage(msg: string): never {
  process.stderr.write(`boot: ${msg}\nusage: boot.ts [--disk IMG] [--kernel F --initrd F --cmdline S] [--memory MiB] [--ide] [--timeout s] [--send CMD]... [--until REGEX] [--quiet-stats]\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Args = { disk: join(ROOT, "public/guest/disk.img"), ide: false, timeout: 120, send: [], stats: true };
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
  if (a.memory !== undefined && !(a.memory >= 32 && a.memory <= 2048)) usage("--memory is MiB, 32..2048");
  if (!(a.timeout > 0)) usage("--timeout is seconds");
  return a;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
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
      { timeout: args.timeout * 1000, readyWhen: (s) => (until?.test(s.text()) ?? false) || s.text().includes(PROMPT) },
    );
    const serial = guest.serial;
    const matched = until ? serial.waitFor(until, { timeout: remaining() }).then(() => "until" as const) : new Promise<never>(() => {});
    const sends = (async () => {
      for (const cmd of args.send) {
        const from = serial.text().length;
        serial.send(`${cmd}\n`);
        await serial.waitFor(PROMPT, { from, timeout: remaining() });
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

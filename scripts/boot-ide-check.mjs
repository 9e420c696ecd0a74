#!/usr/bin/env node
// Boots the guest built by scripts/build-guest.sh in v86 under Node, with the
// root file system on v86's own IDE disk (no NVMe controller involved), and
// checks that the shell, nvme-cli and fio work.
//
//   node scripts/boot-ide-check.mjs [disk|kernel|both] [--timeout=SECONDS] [--quiet]
//
//   disk:   SeaBIOS -> syslinux -> kernel -> initramfs -> root on /dev/sda2.
//           The image's syslinux.cfg says "DEFAULT nvme"; this script rewrites
//           those bytes in its in-memory copy to "DEFAULT  ide" (same length,
//           so the FAT file keeps its size) to pick the IDE label.
//   kernel: v86 loads vmlinuz + initrd.gz itself (bzimage/initrd options),
//           cmdline root=/dev/sda2, disk.img as hda: checks the initramfs path.
//   both:   (default) one after the other.
// Prints the serial console; exits 0 when every check passed, 1 otherwise.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { V86 } from "v86";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const V86_BUILD = path.dirname(require.resolve("v86"));

const args = process.argv.slice(2);
const mode = args.find((a) => !a.startsWith("--")) ?? "both";
const timeoutArg = args.find((a) => a.startsWith("--timeout="));
const TIMEOUT_S = timeoutArg ? Number(timeoutArg.split("=")[1]) : 180;
const QUIET = args.includes("--quiet");

const READY = "V86NVME-ROOT-READY root=";
const PROMPT = "guest# ";
// The kernel boot also passes module parameters, which the initramfs must
// forward to insmod (checked below through /sys/module).
const CMDLINE =
  "console=ttyS0,115200 root=/dev/sda2 rw tsc=reliable mitigations=off random.trust_cpu=on quiet " +
  "nvme_core.io_timeout=77 nvme.poll_queues=1";
const PARAM_CHECK = {
  cmd: "cat /sys/module/nvme_core/parameters/io_timeout /sys/module/nvme/parameters/poll_queues",
  expect: /^77\r?\n1\r?$/m,
};

// Commands run at the guest prompt, each with what its output must contain.
const CHECKS = [
  { cmd: "cat /proc/mounts", expect: /^\/dev\/sda2 \/ ext4 rw/m },
  { cmd: "ls /sys/bus/pci/devices", expect: /0000:00:/ },
  { cmd: "nvme version", expect: /nvme version \d/ },
  { cmd: "fio --version", expect: /fio-\d/ },
  {
    cmd:
      "fio --name=t --filename=/tmp/f --size=4M --rw=randrw --bs=4k " +
      "--ioengine=psync --verify=crc32c; echo FIO-EXIT=$?",
    expect: /FIO-EXIT=0/,
    reject: /verify: bad|err=\s*[1-9]/,
  },
];

function file(rel) {
  const p = path.join(ROOT, rel);
  try {
    const b = readFileSync(p);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  } catch (e) {
    throw new Error(`${rel} missing: run bash scripts/build-guest.sh first (${e.message})`);
  }
}

// Rewrite "DEFAULT nvme" to "DEFAULT  ide" in the boot partition's syslinux.cfg.
function selectIdeLabel(image) {
  const bytes = new Uint8Array(image);
  const from = Buffer.from("\nDEFAULT nvme\n");
  const to = Buffer.from("\nDEFAULT  ide\n");
  const bootEnd = Math.min(bytes.length, 64 * 1024 * 1024); // FAT partition is first
  const hay = Buffer.from(image, 0, bootEnd);
  let n = 0;
  for (let i = hay.indexOf(from); i >= 0; i = hay.indexOf(from, i + 1)) {
    bytes.set(to, i);
    n++;
  }
  if (n === 0) throw new Error('"DEFAULT nvme" not found in the image\'s syslinux.cfg');
}

function boot(kind) {
  return new Promise((resolve) => {
    const disk = file("public/guest/disk.img");
    const options = {
      wasm_path: path.join(V86_BUILD, "v86.wasm"),
      bios: { buffer: file("public/bios/bios-256k.bin") },
      vga_bios: { buffer: file("public/bios/vgabios-stdvga.bin") },
      hda: { buffer: disk },
      memory_size: 256 * 1024 * 1024,
      autostart: true,
      disable_keyboard: true,
      disable_mouse: true,
    };
    if (kind === "disk") {
      selectIdeLabel(disk);
    } else {
      options.bzimage = { buffer: file("public/guest/vmlinuz") };
      options.initrd = { buffer: file("public/guest/initrd.gz") };
      options.cmdline = CMDLINE;
    }

    console.log(`\n=== boot-ide-check: ${kind} boot ===`);
    const t0 = Date.now();
    const secs = () => ((Date.now() - t0) / 1000).toFixed(1);
    const emulator = new V86(options);
    let console_ = ""; // everything the guest printed
    let readyAt = null;
    let step = -1; // index into CHECKS of the command running
    let stepStart = 0; // offset in console_ where its output starts
    let finished = false;

    const finish = (ok, why) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (!ok) {
        console.log(`\n--- console tail ---\n${console_.slice(-3000)}\n--- end ---`);
      }
      console.log(`\n[${kind}] ${ok ? "PASS" : "FAIL"}: ${why} (${secs()} s)`);
      Promise.resolve(emulator.destroy?.()).finally(() => resolve({ ok, readyAt }));
    };
    const timer = setTimeout(() => finish(false, `timeout after ${TIMEOUT_S} s`), TIMEOUT_S * 1000);

    const checks = kind === "kernel" ? [...CHECKS, PARAM_CHECK] : CHECKS;
    const next = () => {
      step++;
      if (step === checks.length) return finish(true, `all checks passed, root ready after ${readyAt} s`);
      stepStart = console_.length;
      emulator.serial0_send(checks[step].cmd + "\n");
    };

    emulator.add_listener("serial0-output-byte", (byte) => {
      const ch = String.fromCharCode(byte);
      console_ += ch;
      if (!QUIET) process.stdout.write(ch);
      if (readyAt === null) {
        const m = console_.match(/V86NVME-ROOT-READY root=(\S+)\r?\n/);
        if (m) {
          readyAt = secs();
          console.log(`\n[${kind}] root ready (${m[1]}) after ${readyAt} s`);
        } else if (console_.includes("V86NVME-INITRAMFS-SHELL")) {
          return finish(false, "initramfs could not mount the root");
        }
        return;
      }
      if (!console_.endsWith(PROMPT)) return;
      if (step >= 0) {
        // Output of the running command: drop the echoed command line.
        const out = console_.slice(stepStart + checks[step].cmd.length);
        const c = checks[step];
        if (!c.expect.test(out) || (c.reject && c.reject.test(out))) {
          return finish(false, `unexpected output of: ${c.cmd}`);
        }
      }
      next();
    });
  });
}

const kinds = mode === "both" ? ["disk", "kernel"] : [mode];
if (!kinds.every((k) => k === "disk" || k === "kernel")) {
  console.error(`unknown mode ${mode}: use disk, kernel or both`);
  process.exit(2);
}
let ok = true;
const summary = [];
for (const k of kinds) {
  const r = await boot(k);
  ok &&= r.ok;
  summary.push(`${k}: ${r.ok ? "PASS" : "FAIL"}, root ready after ${r.readyAt ?? "-"} s`);
}
console.log(`\nboot-ide-check: ${summary.join("; ")}`);
process.exit(ok ? 0 : 1);

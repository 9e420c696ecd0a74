// Boots the project's guest with v86-nvme on another v86 release and runs `nvme list`: which
// published v86 releases work with this controller.
//
//   npm install --prefix /tmp/v86-0.5.14 v86@0.5.14
//   npx tsx scripts/try-v86.ts --v86 /tmp/v86-0.5.14 [--timeout s] [--disk IMG] [--echo]
//
// --v86 is the v86 package's directory or an npm prefix holding node_modules/v86. The V86 class
// (the package's entry; V86Starter before 0.5) and build/v86.wasm are taken from there and handed to bootGuest
// (src/guest), so the installed v86 is not involved. Prints one JSON line: the version, whether it
// passed, boot and command times, and the error when it failed. Exit status 0 when `nvme list`
// showed namespace 1, 1 when it did not, 2 on bad arguments.

import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { bootGuest, type Guest, type GuestConfig } from "../src/guest/index.ts";
import { BIOS, DISK_IMAGE, loadDisk, VGA_BIOS } from "../test/project-guest/image.ts";

const ROOT_READY = "V86NVME-ROOT-READY";
const PROMPT = "guest# ";

function usage(msg: string): never {
  process.stderr.write(`try-v86: ${msg}\nusage: try-v86.ts --v86 DIR [--timeout s] [--disk IMG] [--echo]\n`);
  process.exit(2);
}

interface Args {
  dir: string;
  timeout: number;
  disk: string;
  echo: boolean;
}

function parseArgs(argv: string[]): Args {
  let dir: string | undefined;
  const a = { timeout: 240, disk: DISK_IMAGE, echo: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = (): string => (i + 1 < argv.length ? argv[++i] : usage(`${k} needs a value`));
    if (k === "--v86") dir = v();
    else if (k === "--timeout") a.timeout = Number(v());
    else if (k === "--disk") a.disk = v();
    else if (k === "--echo") a.echo = true;
    else if (k === "--") continue;
    else usage(`unknown argument ${k}`);
  }
  if (!dir) usage("--v86 DIR is required");
  if (!(a.timeout > 0)) usage("--timeout is seconds");
  return { dir: packageDir(dir), ...a };
}

/** The v86 package directory: DIR itself or DIR/node_modules/v86. */
function packageDir(dir: string): string {
  for (const d of [resolve(dir), resolve(dir, "node_modules/v86")]) {
    if (existsSync(join(d, "package.json")) && existsSync(join(d, "build/v86.wasm"))) return d;
  }
  usage(`${dir} holds no v86 package (package.json and build/v86.wasm)`);
}

/** The package's version and V86 class (its entry as Node's import finds it: `main`). */
async function loadV86(dir: string): Promise<{ version: string; V86: GuestConfig["V86"] }> {
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string; main?: string };
  const entry = pkg.main ?? "build/libv86.mjs";
  const mod = (await import(pathToFileURL(join(dir, entry)).href)) as Record<string, unknown> & { default?: Record<string, unknown> };
  // Releases before 0.5 (a separate bundling of v86) call the class V86Starter.
  const V86 = mod.V86 ?? mod.default?.V86 ?? mod.V86Starter ?? mod.default?.V86Starter;
  if (typeof V86 !== "function") throw new Error(`v86 ${pkg.version}: ${entry} exports no V86 class`);
  return { version: pkg.version, V86: V86 as GuestConfig["V86"] };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const result: Record<string, unknown> = { dir: args.dir };
  let guest: Guest | undefined;
  // A v86 that fails inside its own timers throws out of the event loop, not out of bootGuest.
  const uncaught = new Promise<never>((_, reject) => {
    process.on("uncaughtException", reject);
    process.on("unhandledRejection", reject);
  });
  try {
    const { version, V86 } = await loadV86(args.dir);
    result.version = version;
    const boot = bootGuest(
      {
        V86,
        v86Wasm: join(args.dir, "build/v86.wasm"),
        v86Version: version,
        image: loadDisk(args.disk),
        bios: readFileSync(BIOS),
        vgaBios: readFileSync(VGA_BIOS),
        memory: 128 << 20,
        nvme: { serial: "V86TRY0001" },
        log: (level, msg) => process.stderr.write(`[host ${level}] ${msg}\n`),
        onEmulator: (emulator) => {
          if (args.echo) emulator.add_listener("serial0-output-byte", (b: number) => process.stderr.write(String.fromCharCode(b)));
        },
      },
      {
        timeoutMs: args.timeout * 1000,
        readyWhen: (serial) => {
          const t = serial.text();
          return t.includes(ROOT_READY) && t.lastIndexOf(PROMPT) > t.indexOf(ROOT_READY);
        },
      },
    );
    guest = await Promise.race([boot, uncaught]);
    result.bootMs = Math.round(guest.bootMs);
    const t0 = performance.now();
    const r = await Promise.race([guest.exec("nvme list", { timeoutMs: 60_000 }), uncaught]);
    result.execMs = Math.round(performance.now() - t0);
    const line = r.stdout.split("\n").find((l) => l.startsWith("/dev/nvme0n1"));
    result.nvmeList = line?.replace(/\s+/g, " ").trim();
    result.pass = r.exitCode === 0 && line !== undefined && line.includes("V86TRY0001");
    if (!result.pass) result.error = `nvme list exited with ${r.exitCode}:\n${r.stdout}`;
  } catch (e) {
    result.pass = false;
    result.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    if (process.env.TRY_V86_STACK) process.stderr.write(`${(e as Error).stack}\n`);
  } finally {
    await guest?.stop().catch(() => undefined);
  }
  result.totalMs = Math.round(performance.now() - started);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return result.pass ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`try-v86: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);

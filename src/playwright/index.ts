// v86-nvme/playwright: Playwright's `test` with a `guest` fixture. Each worker boots the guest
// once in a page of the browser under test and snapshots it right after boot; every test starts
// from a restore of that snapshot, so no test sees another one's writes.
//
//   import { test, expect } from "v86-nvme/playwright";
//   test.use({ image: "disk.img", bios: "bios-256k.bin", vgaBios: "vgabios-stdvga.bin" });
//   test("nvme list", async ({ guest }) => {
//     expect((await guest.exec("nvme list")).stdout).toContain("/dev/nvme0n1");
//   });

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test as base, type Page, type TestInfo } from "@playwright/test";
import type { ExecResult, GuestCounters } from "../guest/index.ts";
import { BootError, GuestPage, type GuestPageOptions } from "./guest-page.ts";

export { expect } from "@playwright/test";
export { BootError, type FileOption, type GuestPageOptions as GuestOptions } from "./guest-page.ts";
export type { ExecResult, GuestCounters } from "../guest/index.ts";

/** The guest a test gets: booted, and rewound to right after boot. */
export interface TestGuest {
  /** The guest's ttyS0, as of the start of this test. */
  readonly serial: {
    /** The console text since this test started (no escape sequences, no CRs). */
    text(): Promise<string>;
    /** Resolves with the first match in the output since this test started (default timeout 30 s). */
    waitFor(pattern: RegExp | string, options?: { timeout?: number }): Promise<string[]>;
    /** Types raw text (no newline added). */
    send(text: string): Promise<void>;
  };
  /** Runs `cmd` in the guest's shell (default timeout 60 s; on a timeout the error carries the serial tail). */
  exec(cmd: string, options?: { timeout?: number }): Promise<ExecResult>;
  /** The NVMe adapter's and controller's counters (they are rewound with the guest). */
  counters(): Promise<GuestCounters>;
  /** A PNG of the VGA screen. */
  screenshot(): Promise<Buffer>;
  /** The page the guest runs in (`window.v86nvme.guest()` is the guest there). */
  readonly page: Page;
  /** Milliseconds this test's restore took. */
  readonly restoreMs: number;
}

type Options = { [K in keyof Required<GuestPageOptions>]: GuestPageOptions[K] };

interface WorkerFixtures extends Options {
  /** The worker's booted guest page, or why it did not boot. */
  guestPage: GuestPage | BootError;
}

const SERIAL_ATTACHMENT = "serial console";
const SCREEN_ATTACHMENT = "VGA screen";

/** Guest pages whose boot timings a test's annotations already show (the first test of the worker). */
const reported = new WeakSet<GuestPage>();

/**
 * Where a boot failure is kept for the rest of the run (the project's output directory, emptied
 * when a run starts): Playwright replaces a worker after a failed test, and the next worker would
 * otherwise boot the same guest again and wait out bootTimeout once per test.
 */
function failureRecord(outputDir: string, options: GuestPageOptions): string {
  const h = createHash("sha256");
  for (const [k, v] of Object.entries(options)) {
    h.update(`${k}=`);
    if (v instanceof Uint8Array) h.update(v);
    else if (typeof v === "string" && existsSync(v)) h.update(`${v}:${statSync(v).size}:${statSync(v).mtimeMs}`);
    else h.update(JSON.stringify(v) ?? "");
  }
  return join(outputDir, `v86-nvme-boot-failure-${h.digest("hex").slice(0, 16)}.json`);
}

function keepFailure(file: string, e: BootError): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify({ message: e.message, serial: e.serial, screen: e.screen?.toString("base64") }));
}

function keptFailure(file: string): BootError | undefined {
  if (!existsSync(file)) return undefined;
  const { message, serial, screen } = JSON.parse(readFileSync(file, "utf8")) as { message: string; serial: string; screen?: string };
  const kept = message.replace("the guest did not boot:", "the guest did not boot (in an earlier worker of this run; not tried again):");
  return new BootError(kept, serial, screen === undefined ? undefined : Buffer.from(screen, "base64"));
}

async function attachBootFailure(info: TestInfo, e: BootError): Promise<void> {
  await info.attach(SERIAL_ATTACHMENT, { body: e.serial, contentType: "text/plain" });
  if (e.screen) await info.attach(SCREEN_ATTACHMENT, { body: e.screen, contentType: "image/png" });
}

export const test = base.extend<{ guest: TestGuest }, WorkerFixtures>({
  image: [undefined, { scope: "worker", option: true }],
  bios: [undefined, { scope: "worker", option: true }],
  vgaBios: [undefined, { scope: "worker", option: true }],
  memory: [undefined, { scope: "worker", option: true }],
  nvme: [undefined, { scope: "worker", option: true }],
  bootTimeout: [180_000, { scope: "worker", option: true }],
  prompt: [undefined, { scope: "worker", option: true }],

  guestPage: [
    async ({ browser, image, bios, vgaBios, memory, nvme, bootTimeout, prompt }, use, workerInfo) => {
      const options = { image, bios, vgaBios, memory, nvme, bootTimeout, prompt };
      const record = failureRecord(workerInfo.project.outputDir, options);
      let opened: GuestPage | BootError | undefined = keptFailure(record);
      try {
        opened ??= await GuestPage.open(browser, options);
      } catch (e) {
        // A boot failure goes to the tests (they attach its serial tail and screen); bad options throw here.
        if (!(e instanceof BootError)) throw e;
        opened = e;
        keepFailure(record, e);
      }
      await use(opened);
      if (opened instanceof GuestPage) await opened.close();
    },
    // The boot has its own timeout (bootTimeout), checked in the page.
    { scope: "worker", timeout: 0 },
  ],

  guest: async ({ guestPage: g }, use, info) => {
    if (g instanceof BootError) {
      await attachBootFailure(info, g);
      throw g;
    }
    if (!reported.has(g)) {
      reported.add(g);
      info.annotations.push({ type: "v86-nvme boot", description: JSON.stringify(g.timings) });
    }
    const restoreMs = await g.reset();
    info.annotations.push({ type: "v86-nvme restore", description: `${Math.round(restoreMs)} ms` });
    await use({
      serial: { text: () => g.text(), waitFor: (p, o) => g.waitFor(p, o), send: (t) => g.send(t) },
      exec: (cmd, o) => g.exec(cmd, o),
      counters: () => g.counters(),
      screenshot: () => g.screenshot(),
      page: g.page,
      restoreMs,
    });
    if (info.status !== info.expectedStatus) {
      await info.attach(SERIAL_ATTACHMENT, { body: await g.text().catch((e) => String(e)), contentType: "text/plain" });
      const screen = await g.screenshot().catch(() => undefined);
      if (screen) await info.attach(SCREEN_ATTACHMENT, { body: screen, contentType: "image/png" });
    }
  },
});

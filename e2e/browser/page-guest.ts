// The guest behind the demo page, as the Chromium tests talk to it: the serial console through
// `window.nvmeDemo`, shell commands with unique start/end markers, device counters.
import { statSync } from "node:fs";
import { expect, type Page } from "@playwright/test";
import { DISK_IMAGE } from "../../test/project-guest/image.ts";

export const BOOT_TIMEOUT = 180_000;
export const PROMPT = "guest# ";

/** The size of the default image the page serves (read from the build, so it moves with the image). */
export const imageBytes = (): number => statSync(DISK_IMAGE).size;

export type Counters = Record<string, number>;

export const counters = (page: Page): Promise<Counters> => page.evaluate(() => window.nvmeDemo.counters());
export const serialText = (page: Page): Promise<string> => page.evaluate(() => window.nvmeDemo.serialText());

/** Drops terminal escapes and carriage returns from serial text. */
export function plain(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;?]*[@-~]/g, "").replace(/\r/g, "");
}

/** Waits until the page's guest shows its shell prompt or the page reports an error (callers check which). */
export async function waitForPrompt(page: Page, timeout = BOOT_TIMEOUT): Promise<void> {
  await page.waitForFunction(
    (p) => window.nvmeDemo?.state === "error" || (window.nvmeDemo?.state === "running" && window.nvmeDemo.serialText().includes(p)),
    PROMPT,
    { timeout, polling: 250 },
  );
}

let marker = 0;

/** Runs a shell command in the guest; returns its output and exit status. */
export async function runInGuest(page: Page, cmd: string, timeout = 60_000): Promise<{ out: string; status: number }> {
  const n = ++marker;
  // The shell prints __START_n__ and __DONE_n_<status>__; the echoed command line (which the
  // line editor may wrap anywhere) holds neither string, so only the real output matches.
  const start = (await serialText(page)).length;
  await page.evaluate((text) => window.nvmeDemo.send(text), `printf '__S%s_${n}__\\n' TART; ${cmd}; echo __DONE_${n}_$?__\n`);
  const result = await page.waitForFunction(
    ([start, n]) => {
      const s = window.nvmeDemo?.serialText().slice(start) ?? "";
      const m = new RegExp(`__START_${n}__\\r?\\n([\\s\\S]*?)__DONE_${n}_(\\d+)__`).exec(s);
      if (m) return { text: m[1], status: Number(m[2]) };
      return window.nvmeDemo?.state === "error" ? { text: window.nvmeDemo.error ?? "", status: -1 } : null;
    },
    [start, n] as const,
    { timeout, polling: 200 },
  );
  const { text, status } = (await result.jsonValue())!;
  expect(status, `the emulator failed while running ${cmd}: ${text}`).not.toBe(-1);
  return { out: plain(text).trim(), status };
}

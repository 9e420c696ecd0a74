// What the Node guest tests share besides the guest itself: the log line for figures, md5 of
// host-side bytes, nvme-cli's "key : value" output, and the serial tail of a failed test.

import { createHash } from "node:crypto";
import { afterEach } from "vitest";
import type { Guest } from "../../test/project-guest/guest.ts";

/** Figures worth reading in the test log. */
export function note(msg: string): void {
  console.log(`[e2e] ${msg}`);
}

export function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

/** "key : value" lines of nvme-cli's normal output (the first of each key); `numbers` drops thousands separators. */
export function fields(out: string, numbers = false): Record<string, string> {
  const f: Record<string, string> = {};
  for (const line of out.split("\n")) {
    const m = /^([A-Za-z_][\w ]*?)\s*:\s*(.*)$/.exec(line);
    if (m && !(m[1] in f)) f[m[1]] = numbers ? m[2].trim().replace(/,/g, "") : m[2].trim();
  }
  return f;
}

/** After each failed test of the suite, prints the guest's last 80 serial lines. */
export function serialTailOnFailure(guest: () => Guest | undefined): void {
  afterEach((ctx) => {
    const g = guest();
    if (ctx.task.result?.state === "fail" && g) console.error(`--- serial tail (${ctx.task.name}) ---\n${g.tail(80)}`);
  });
}

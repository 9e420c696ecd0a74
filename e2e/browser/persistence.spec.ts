// The persistent disk on the real Origin Private File System in Chromium: a disk seeded as an
// overlay over an image read with Range requests from the dev server, written and flushed,
// survives a page reload (worker gone, handles released), keeps serving unwritten blocks from
// the image, and exports as base + writes. Backend level: the modules are loaded straight from
// the dev server into an otherwise empty page of the same origin.

import { expect, test, type Page } from "@playwright/test";

const IMAGE = "/bios/bios-256k.bin"; // any file the dev server serves (with Range); 256 KiB
const NAME = "e2e-persistence";

/** An empty same-origin page, so OPFS and module imports work without the demo app. */
async function blankPage(page: Page): Promise<void> {
  await page.route("**/__backend-test.html", (r) => r.fulfill({ contentType: "text/html", body: "<!doctype html><title>backend test</title>" }));
  await page.goto("/__backend-test.html");
}

/** Runs in the page: opens the overlay disk; `write` writes and flushes first; returns what the checks need. */
function scenario(page: Page, args: { image: string; name: string; write: boolean; reset: boolean }) {
  return page.evaluate(async ({ image, name, write, reset }) => {
    const load = (p: string) => import(/* @vite-ignore */ p);
    const { HttpBackend } = await load("/src/backends/http.ts");
    const { OpfsBackend } = await load("/src/backends/opfs.ts");
    const { exportBlob } = await load("/src/backends/export.ts");
    const base = await HttpBackend.open(image, { chunkSize: 16 * 1024 });
    const disk = await OpfsBackend.open({ name, base, baseId: image, reset });
    const mark = new Uint8Array(8192);
    for (let i = 0; i < mark.length; i++) mark[i] = (i * 13 + 7) & 0xff;
    if (write) {
      disk.write(64 * 1024, mark, false);
      await disk.writeZeroes(128 * 1024, 16 * 1024);
      await disk.flush();
    }
    const hex = async (b: ArrayBuffer | Uint8Array) =>
      [...new Uint8Array(await crypto.subtle.digest("SHA-256", b as Uint8Array<ArrayBuffer>))].map((x) => x.toString(16).padStart(2, "0")).join("");
    const written = await disk.read(64 * 1024, 8192);
    const zeroed = await disk.read(128 * 1024, 16 * 1024);
    const original = new Uint8Array(await (await fetch(image)).arrayBuffer());
    const expected = original.slice();
    expected.set(mark, 64 * 1024);
    expected.fill(0, 128 * 1024, 144 * 1024);
    const progress: number[] = [];
    const exported = await exportBlob(disk, { chunkSize: 64 * 1024, onProgress: (d: number) => progress.push(d) });
    const result = {
      size: disk.byteLength as number,
      volatile: disk.volatileWriteCache as boolean,
      writtenOk: written.every((x: number, i: number) => x === mark[i]),
      zeroedOk: zeroed.every((x: number) => x === 0),
      untouchedOk: (await disk.read(0, 4096)).every((x: number, i: number) => x === original[i]),
      exportHash: await hex(await exported.arrayBuffer()),
      expectedHash: await hex(expected),
      progressEnd: progress.at(-1),
      requests: base.stats.requests as number,
    };
    if (!write) await disk.close();
    return result;
  }, args);
}

test("a persistent OPFS overlay over an HTTP image survives a reload and exports base + writes", async ({ page }) => {
  page.on("pageerror", (e) => console.log(`page error: ${e.message}`));
  await blankPage(page);
  const first = await scenario(page, { image: IMAGE, name: NAME, write: true, reset: true });
  expect(first.volatile).toBe(true);
  expect(first.writtenOk && first.zeroedOk && first.untouchedOk).toBe(true);
  expect(first.exportHash).toBe(first.expectedHash);

  await page.reload(); // no close(): the worker dies with the page, as on a real reload
  const second = await scenario(page, { image: IMAGE, name: NAME, write: false, reset: false });
  expect(second.size).toBe(256 * 1024);
  expect(second.writtenOk, "flushed write after reload").toBe(true);
  expect(second.zeroedOk, "flushed zeroing after reload").toBe(true);
  expect(second.untouchedOk, "unwritten blocks still from the image").toBe(true);
  expect(second.exportHash).toBe(first.expectedHash);
  expect(second.progressEnd).toBe(256 * 1024);
  expect(second.requests).toBeLessThanOrEqual(1 + 256 / 16 + 2); // probe + each chunk once (+ read-ahead)

  await page.evaluate(async (name) => {
    const path = "/src/backends/opfs.ts";
    const { OpfsBackend } = await import(/* @vite-ignore */ path);
    await OpfsBackend.remove(name);
  }, NAME);
});

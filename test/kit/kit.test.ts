// The guest kit (guest-kit/, package v86-nvme-guest) as the workspace resolves it: its exports
// resolve to existing files, and its manifest describes them — the image id is imageIdentity() of
// the image's bytes (what state files record), and the state was taken of that image.
// Skipped when the kit is not built (npm run build:kit, which scripts/setup.sh runs).
import { existsSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { decodeStateFile, imageIdentity, nvmeConfigKey, STATE_FILE_FORMAT } from "../../src/index.ts";

const built = existsSync(fileURLToPath(new URL("../../guest-kit/files/manifest.js", import.meta.url)));

describe.skipIf(!built)("guest kit", () => {
  test("v86-nvme-guest/node: files exist, manifest matches the image and the state", { timeout: 60_000 }, async () => {
    const kit = await import("v86-nvme-guest/node");
    const { files, manifest } = kit;
    for (const p of [files.image, files.bios, files.vgaBios, files.bootTrace, files.manifest]) expect(existsSync(p), p).toBe(true);
    expect(files.state).toBeDefined();
    expect(JSON.parse(readFileSync(files.manifest, "utf8"))).toEqual(manifest);

    const image = readFileSync(files.image);
    expect(manifest.image.bytes).toBe(image.byteLength);
    expect(manifest.image.id).toBe(imageIdentity(new Uint8Array(image.buffer, image.byteOffset, image.byteLength)));
    expect(statSync(files.bios).size).toBe(manifest.files.bios.bytes);

    const { info } = decodeStateFile(readFileSync(files.state as string));
    expect(info.identity.imageId).toBe(manifest.image.id);
    expect(info.identity.imageBytes).toBe(manifest.image.bytes);
    expect(info.identity.memory).toBe(manifest.memory);
    expect(info.identity.nvme).toBe(manifest.nvme);
    expect(manifest.nvme).toBe(nvmeConfigKey({}));
    expect(info.v86Version).toBe(manifest.v86Version);
    expect(manifest.stateFormat).toBe(STATE_FILE_FORMAT);
    expect(manifest.v86Version).toBe((createRequire(import.meta.url)("v86/package.json") as { version: string }).version);
  });

  test("v86-nvme-guest: URLs beside the module, the same manifest", async () => {
    const [page, node] = await Promise.all([import("v86-nvme-guest"), import("v86-nvme-guest/node")]);
    expect(page.manifest).toEqual(node.manifest);
    expect(fileURLToPath(page.urls.image)).toBe(node.files.image);
    expect(fileURLToPath(page.urls.bios)).toBe(node.files.bios);
    expect(fileURLToPath(page.urls.vgaBios)).toBe(node.files.vgaBios);
    expect(fileURLToPath(page.urls.bootTrace)).toBe(node.files.bootTrace);
    expect(fileURLToPath(page.urls.state)).toBe(node.files.state);
    const pkg = createRequire(import.meta.url)("v86-nvme-guest/package.json") as { name: string; files: string[] };
    expect(pkg.name).toBe("v86-nvme-guest");
    // Everything the modules name is in the package's files list.
    for (const p of [...Object.values(node.files), fileURLToPath(page.urls.state)]) {
      const rel = p.slice(p.indexOf("/files/") + 1);
      expect(pkg.files, rel).toContain(rel);
    }
  });
});

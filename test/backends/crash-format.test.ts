// Format NVM and Sanitize on a persistent namespace, then a crash: once the Format completed (or
// the Sanitize Status log said the sanitize completed), the erase is durable, although the disk
// has a volatile write cache and the host sent no Flush. The persistent disk runs over the
// recording files of crash-harness.ts; the crash keeps only what was flushed.
import { describe, it, expect } from "vitest";
import { OpfsBackend } from "../../src/backends/opfs.ts";
import * as O from "../../src/spec/opcodes.ts";
import * as LOG from "../../src/spec/logs.ts";
import { HostDriver } from "../driver/host-driver.ts";
import { RecordingFiles, crashImages, recordingWorker } from "./crash-harness.ts";

const SIZE = 1 << 20;

async function setUp() {
  const files = new RecordingFiles();
  const w = recordingWorker(files);
  const disk = await OpfsBackend.open({ name: "ns", size: SIZE, worker: w.endpoint });
  const d = await HostDriver.create({ namespaces: [{ backend: disk }], mdts: 5 }, 16 << 20);
  await d.bringUp({ pairs: 1 });
  // 64 KiB of data, flushed: durable before the erase.
  const data = new Uint8Array(64 * 1024).fill(0x5a);
  expect((await d.write(1, 1, 0, data)).status).toBe(0);
  expect((await d.run(1, { opcode: O.IO_FLUSH, nsid: 1 })).status).toBe(0);
  return { files, w, d };
}

/** The namespace's first 64 KiB after a crash now (only flushed data stays) and a reload. */
async function afterCrash(files: RecordingFiles): Promise<Uint8Array> {
  const w = recordingWorker(new RecordingFiles(crashImages(new Map(), files.log, files.log.length, { kind: "lost" })));
  const disk = await OpfsBackend.open({ name: "ns", size: SIZE, worker: w.endpoint });
  const out = await disk.read(0, 64 * 1024);
  w.kill();
  return out;
}

describe("erasing a persistent namespace, then a crash", () => {
  it("a completed Format NVM (user data erase) stays erased", async () => {
    const { files, w, d } = await setUp();
    const r = await d.admin({ opcode: O.ADMIN_FORMAT_NVM, nsid: 1, cdw10: 0 | (1 << 9) });
    expect(r.status).toBe(0);
    w.kill();
    expect((await afterCrash(files)).every((x) => x === 0)).toBe(true);
  });

  it("a sanitize the log reports completed stays erased", async () => {
    const { files, w, d } = await setUp();
    expect((await d.admin({ opcode: O.ADMIN_SANITIZE, cdw10: 2 })).status).toBe(0);
    // The Sanitize Status log's SSTAT says when the last sanitize completed.
    let sstat = 0;
    for (let i = 0; i < 500 && (sstat & 7) !== LOG.SSTAT_DONE; i++) {
      await new Promise((s) => setTimeout(s, 5));
      const buf = d.mem.alloc(512);
      const c = await d.admin({ opcode: O.ADMIN_GET_LOG_PAGE, prp1: buf, cdw10: LOG.LID_SANITIZE_STATUS | ((512 / 4 - 1) << 16) });
      expect(c.status).toBe(0);
      const b = d.mem.bytes(buf, 512);
      sstat = new DataView(b.buffer, b.byteOffset).getUint16(2, true);
    }
    expect(sstat & 7).toBe(LOG.SSTAT_DONE);
    w.kill();
    expect((await afterCrash(files)).every((x) => x === 0)).toBe(true);
  });
});

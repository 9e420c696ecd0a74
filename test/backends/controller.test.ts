// The backends behind a real namespace: NVMe reads and writes through the controller's synchronous
// and PENDING paths, Flush reaching the persistent disk, and backend failures as NVMe statuses.
import { describe, it, expect, afterEach } from "vitest";
import { HostDriver } from "../driver/host-driver.ts";
import { HttpBackend } from "../../src/backends/http.ts";
import { OpfsBackend } from "../../src/backends/opfs.ts";
import * as O from "../../src/spec/opcodes.ts";
import { expectBytes, patternBytes } from "./conformance.ts";
import { imageServer, type ImageServer } from "./image-server.ts";
import { FakeOpfs, fakeWorker } from "./fake-opfs.ts";

const sc = (s: number) => s & 0x7ff;
const UNRECOVERED_READ = 0x281;
const CAPACITY_EXCEEDED = 0x081;

let server: ImageServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("backends behind the controller", () => {
  it("reads an HTTP image through NVMe, and a failing server becomes a media error", async () => {
    let failing = false;
    server = await imageServer({ size: 4 << 20, fault: () => (failing ? "500" : undefined) });
    const disk = await HttpBackend.open(server.url, { chunkSize: 64 * 1024, retries: 0, readAhead: 0 });
    const d = await HostDriver.create({ namespaces: [{ backend: disk }] }, 8 << 20);
    await d.bringUp({ pairs: 1 });
    const [c, got] = await d.read(1, 1, 100, 200); // crosses chunks: fetched, completed later
    expect(c.status).toBe(0);
    expectBytes(got, patternBytes(100 * 512, 200 * 512));
    expect((await d.write(1, 1, 120, new Uint8Array(1024).fill(0xab))).status).toBe(0);
    const [c2, again] = await d.read(1, 1, 119, 4);
    expect(c2.status).toBe(0);
    expectBytes(again, new Uint8Array([...patternBytes(119 * 512, 512), ...new Uint8Array(1024).fill(0xab), ...patternBytes(122 * 512, 512)]));
    failing = true;
    const [c3] = await d.read(1, 1, 6000, 8);
    expect(sc(c3.status)).toBe(UNRECOVERED_READ);
  });

  it("reports a volatile write cache for the persistent disk, and Flush makes writes survive", async () => {
    const fs = new FakeOpfs();
    const w = fakeWorker(fs);
    const disk = await OpfsBackend.open({ name: "ns1", size: 4 << 20, worker: w.endpoint });
    const d = await HostDriver.create({ namespaces: [{ backend: disk }] }, 8 << 20);
    await d.bringUp({ pairs: 1 });
    const [id] = await d.identify(1);
    expect(id[525] & 1).toBe(1); // VWC present
    const data = patternBytes(0, 8192);
    expect((await d.write(1, 1, 64, data)).status).toBe(0);
    expect((await d.run(1, { opcode: O.IO_FLUSH, nsid: 1 })).status).toBe(0);
    w.kill();
    fs.crash();
    const again = await OpfsBackend.open({ name: "ns1", worker: fakeWorker(fs).endpoint });
    expectBytes(await again.read(64 * 512, 8192), data);
  });

  it("turns a full origin quota into Capacity Exceeded", async () => {
    const fs = new FakeOpfs();
    const disk = await OpfsBackend.open({ name: "ns1", size: 4 << 20, worker: fakeWorker(fs).endpoint });
    const d = await HostDriver.create({ namespaces: [{ backend: disk }] }, 8 << 20);
    await d.bringUp({ pairs: 1 });
    fs.quota = 0;
    const c = await d.write(1, 1, 2048, new Uint8Array(4096).fill(1), 512, true);
    expect(sc(c.status)).toBe(CAPACITY_EXCEEDED);
    const [r] = await d.read(1, 1, 2048, 8);
    expect(sc(r.status)).toBe(UNRECOVERED_READ); // never the bytes that were not stored
  });
});

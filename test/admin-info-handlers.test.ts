// Unit tests of Identify, Get/Set Features, Get Log Page, async events, the error log and SMART
// health, over a small test HandlerContext (real hot path for PRPs, no controller).

import { describe, expect, it, beforeEach } from "vitest";
import { HotPath } from "../src/hotpath.ts";
import { Dma } from "../src/dma.ts";
import { Command } from "../src/command.ts";
import type { HandlerContext } from "../src/state/context.ts";
import { normalizeOptions, type ControllerConfig, type NvmeOptions } from "../src/state/options.ts";
import type { Namespace } from "../src/state/namespace.ts";
import { NamespaceTable } from "../src/state/namespaces.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import type { BlockBackend } from "../src/backends/block-backend.ts";
import { FeatureState, WCTEMP_K } from "../src/state/feature-state.ts";
import { AsyncEvents, AER_LIMIT } from "../src/state/async-events.ts";
import { ErrorLog, ERROR_LOG_ENTRIES } from "../src/state/error-log.ts";
import { Health } from "../src/state/health.ts";
import { SanitizeState } from "../src/state/sanitize-state.ts";
import { identify } from "../src/admin/identify.ts";
import { getFeatures, setFeatures } from "../src/admin/features.ts";
import { getLogPage } from "../src/admin/logs.ts";
import { effectsLog } from "../src/admin/effects.ts";
import { adminCommandSupported, ioCommandSupported } from "../src/state/command-support.ts";
import { GuestMemory } from "./driver/guest-memory.ts";
import * as I from "../src/spec/identify.ts";
import * as F from "../src/spec/features.ts";
import * as LOG from "../src/spec/logs.ts";
import * as S from "../src/spec/status.ts";

const { INVALID_FIELD, INVALID_NAMESPACE: INVALID_NS, LATER } = S;

class TestDevice implements HandlerContext {
  readonly dma: Dma;
  readonly features: FeatureState;
  readonly events: AsyncEvents;
  readonly errors = new ErrorLog();
  readonly health = new Health();
  readonly sanitize = new SanitizeState();
  readonly ioSqEntryShift = 6;
  readonly ioCqEntryShift = 4;
  readonly held: Command[] = [];
  readonly completed: [Command, number][] = [];
  readonly logs: string[] = [];
  aerCompletions: Command[] = [];

  constructor(readonly config: ControllerConfig, readonly hotPath: HotPath, readonly nsTable: NamespaceTable, readonly mem: GuestMemory) {
    this.dma = new Dma(hotPath);
    this.features = new FeatureState(config);
    this.events = new AsyncEvents((c) => this.aerCompletions.push(c), (l, m) => this.log(l, m), () => this.features.asyncEventConfig);
  }
  get namespaces(): Namespace[] {
    return this.nsTable.active;
  }
  abort(): boolean {
    return false;
  }
  abortSqCommands(): void {}
  ioDone(): void {}
  hold(cmd: Command): Command {
    const c = cmd.clone();
    this.held.push(c);
    return c;
  }
  isHeld(): boolean {
    return true;
  }
  afterDma(fn: () => void): void {
    fn();
  }
  complete(cmd: Command, status: S.Status): void {
    this.completed.push([cmd, status]);
  }
  now(): number {
    return performance.now();
  }
  log(level: string, msg: string): void {
    this.logs.push(`${level}: ${msg}`);
  }
}

async function device(o: Partial<NvmeOptions> = {}, backends: BlockBackend[] = [new MemoryBackend(1 << 20)], bs: 512 | 4096 = 512): Promise<TestDevice> {
  const opts: NvmeOptions = { ...o, namespaces: backends.map((backend) => ({ backend, logicalBlockSize: bs })) };
  const config = normalizeOptions(opts);
  const mem = new GuestMemory(1 << 20, 65536, 65536);
  const hp = await HotPath.create(mem);
  const table = new NamespaceTable(config.nn, config.guestCapacity, config.serial);
  for (const n of opts.namespaces) table.addHost(n);
  table.clearChanged();
  return new TestDevice(config, hp, table, mem);
}

function command(opcode: number, f: Partial<Command> = {}): Command {
  return Object.assign(new Command(), { opcode }, f);
}

/** Runs a data-returning admin handler into a fresh guest page. */
function fetch(dev: TestDevice, handler: (d: HandlerContext, c: Command) => number, f: Partial<Command>, len = 4096): [number, Uint8Array, Command] {
  const buf = dev.mem.alloc(len + 4096);
  const cmd = command(0, { prp1Lo: buf, prp2Lo: len > 4096 ? buf + 4096 : 0, ...f });
  const s = handler(dev, cmd);
  return [s, dev.mem.bytes(buf, len), cmd];
}

const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
const ascii = (b: Uint8Array, off: number, len: number): string => String.fromCharCode(...b.subarray(off, off + len));

describe("Identify", () => {
  it("describes the controller the way Linux and nvme-cli read it", async () => {
    const dev = await device({ serial: "SER1", model: "Model X", firmware: "2.1", vendorId: 0x1234, subsystemVendorId: 0x5678, mdts: 5, volatileWriteCache: true });
    const [s, d] = fetch(dev, identify, { cdw10: I.CNS_CONTROLLER });
    expect(s).toBe(0);
    const v = dv(d);
    expect(v.getUint16(I.IDC_VID, true)).toBe(0x1234);
    expect(v.getUint16(I.IDC_SSVID, true)).toBe(0x5678);
    expect(ascii(d, I.IDC_SN, 20)).toBe("SER1".padEnd(20));
    expect(ascii(d, I.IDC_MN, 40)).toBe("Model X".padEnd(40));
    expect(ascii(d, I.IDC_FR, 8)).toBe("2.1     ");
    expect(d[I.IDC_MDTS]).toBe(5);
    expect(v.getUint16(I.IDC_CNTLID, true)).toBe(1);
    expect(v.getUint32(I.IDC_VER, true)).toBe(0x10400);
    expect(v.getUint32(I.IDC_OAES, true)).toBe(I.OAES_NS_ATTR);
    expect(d[I.IDC_CNTRLTYPE]).toBe(1);
    expect(v.getUint16(I.IDC_OACS, true)).toBe(I.OACS_FORMAT | I.OACS_DBBUF_CONFIG | I.OACS_NS_MGMT);
    expect(d[I.IDC_ACL]).toBe(3);
    expect(d[I.IDC_AERL]).toBe(3);
    expect(d[I.IDC_FRMW]).toBe(0x03);
    expect(d[I.IDC_LPA]).toBe(I.LPA_CMD_EFFECTS | I.LPA_EXTENDED_DATA);
    expect(d[I.IDC_ELPE]).toBe(63);
    expect(d[I.IDC_NPSS]).toBe(0);
    expect(v.getUint16(I.IDC_WCTEMP, true)).toBe(343);
    expect(v.getUint16(I.IDC_CCTEMP, true)).toBe(373);
    expect(d[I.IDC_SQES]).toBe(0x66);
    expect(d[I.IDC_CQES]).toBe(0x44);
    expect(v.getUint32(I.IDC_NN, true)).toBe(32);
    expect(v.getUint16(I.IDC_ONCS, true)).toBe(0x5d | I.ONCS_WRITE_UNCORRECTABLE | I.ONCS_VERIFY | I.ONCS_COPY);
    expect(d[I.IDC_VWC]).toBe(0x07);
    expect(v.getUint16(I.IDC_KAS, true)).toBe(0);
    expect(v.getUint32(I.IDC_SGLS, true)).toBe(0x10002); // SGLs with dword granularity, Bit Bucket
    const nqn = ascii(d, I.IDC_SUBNQN, 256);
    expect(nqn.slice(0, nqn.indexOf("\0"))).toBe("nqn.2024-01.io.github.v86-nvme:SER1");
    expect(v.getUint16(I.IDC_PSD0 + I.PSD_MP, true)).toBeGreaterThan(0);
  });

  it("leaves out what is not configured: shadow doorbells, write cache", async () => {
    const dev = await device({ shadowDoorbells: false, volatileWriteCache: false });
    const [, d] = fetch(dev, identify, { cdw10: I.CNS_CONTROLLER });
    expect(dv(d).getUint16(I.IDC_OACS, true)).toBe(I.OACS_FORMAT | I.OACS_NS_MGMT);
    expect(d[I.IDC_VWC]).toBe(0);
  });

  it("describes each namespace in its current LBA format of the six offered", async () => {
    const dev = await device({}, [new MemoryBackend(1 << 20), new MemoryBackend(2 << 20)], 4096);
    const [s, d] = fetch(dev, identify, { cdw10: I.CNS_NAMESPACE, nsid: 2 });
    expect(s).toBe(0);
    const v = dv(d);
    expect(v.getUint32(I.IDN_NSZE, true)).toBe(512);
    expect(v.getUint32(I.IDN_NCAP, true)).toBe(512);
    expect(v.getUint32(I.IDN_NUSE, true)).toBe(512);
    expect(d[I.IDN_NLBAF]).toBe(5);
    expect(d[I.IDN_FLBAS]).toBe(1);
    expect(v.getUint32(I.IDN_LBAF0, true)).toBe((9 << 16) | (I.RP_GOOD << 24));
    expect(v.getUint32(I.IDN_LBAF0 + 4, true)).toBe((12 << 16) | (I.RP_BEST << 24));
    expect(d[I.IDN_DLFEAT]).toBe(I.DLFEAT_READ_ZEROES | I.DLFEAT_WRITE_ZEROES_DEAC);
    expect(v.getUint32(I.IDN_NVMCAP, true)).toBe(2 << 20);
    expect([...d.subarray(I.IDN_NGUID, I.IDN_NGUID + 16)]).toEqual([...dev.namespaces[1].nguid]);
    expect([...d.subarray(I.IDN_EUI64, I.IDN_EUI64 + 8)]).toEqual([...dev.namespaces[1].eui64]);
  });

  it("rejects namespaces that do not exist", async () => {
    const dev = await device();
    for (const nsid of [0, 33, 0xffffffff]) expect(fetch(dev, identify, { cdw10: I.CNS_NAMESPACE, nsid })[0]).toBe(INVALID_NS);
    // A valid NSID with no namespace behind it: zeros.
    const [s2, d2] = fetch(dev, identify, { cdw10: I.CNS_NAMESPACE, nsid: 2 });
    expect([s2, d2.every((b) => b === 0)]).toEqual([0, true]);
    for (const nsid of [0, 2, 0xffffffff]) expect(fetch(dev, identify, { cdw10: I.CNS_NS_DESCRIPTORS, nsid })[0]).toBe(INVALID_NS);
  });

  it("lists active namespaces above the given NSID", async () => {
    const dev = await device({}, [1, 2, 3].map(() => new MemoryBackend(65536)));
    const list = (nsid: number): number[] => {
      const [s, d] = fetch(dev, identify, { cdw10: I.CNS_ACTIVE_NS_LIST, nsid });
      expect(s).toBe(0);
      return [0, 1, 2, 3].map((i) => dv(d).getUint32(i * 4, true));
    };
    expect(list(0)).toEqual([1, 2, 3, 0]);
    expect(list(2)).toEqual([3, 0, 0, 0]);
    expect(list(3)).toEqual([0, 0, 0, 0]);
    expect(fetch(dev, identify, { cdw10: I.CNS_ACTIVE_NS_LIST, nsid: 0xfffffffe })[0]).toBe(INVALID_NS);
    expect(fetch(dev, identify, { cdw10: I.CNS_ACTIVE_NS_LIST, nsid: 0xffffffff })[0]).toBe(INVALID_NS);
  });

  it("gives EUI64, NGUID and UUID descriptors", async () => {
    const dev = await device();
    const [s, d] = fetch(dev, identify, { cdw10: I.CNS_NS_DESCRIPTORS, nsid: 1 });
    expect(s).toBe(0);
    const ns = dev.namespaces[0];
    expect([d[0], d[1]]).toEqual([I.NIDT_EUI64, 8]);
    expect([...d.subarray(4, 12)]).toEqual([...ns.eui64]);
    expect([d[12], d[13]]).toEqual([I.NIDT_NGUID, 16]);
    expect([...d.subarray(16, 32)]).toEqual([...ns.nguid]);
    expect([d[32], d[33]]).toEqual([I.NIDT_UUID, 16]);
    expect([...d.subarray(36, 52)]).toEqual([...ns.uuid]);
    expect([d[52], d[53], d[56]]).toEqual([I.NIDT_CSI, 1, I.CSI_NVM]);
    expect(d[57]).toBe(0); // terminator
  });

  it("answers the NVM and Zoned Namespace command set controller structures with zeros, and nothing else", async () => {
    const dev = await device();
    const [s, d] = fetch(dev, identify, { cdw10: I.CNS_CSI_CONTROLLER, cdw11: 0 });
    expect(s).toBe(0);
    expect(d.every((b) => b === 0)).toBe(true);
    expect(fetch(dev, identify, { cdw10: I.CNS_CSI_CONTROLLER, cdw11: 2 << 24 })[0]).toBe(0);
    expect(fetch(dev, identify, { cdw10: I.CNS_CSI_CONTROLLER, cdw11: 3 << 24 })[0]).toBe(INVALID_FIELD);
    for (const cns of [0x04, 0x14, 0xff]) expect(fetch(dev, identify, { cdw10: cns })[0]).toBe(INVALID_FIELD);
  });

  it("fails with the PRP status when the buffer lies outside guest RAM", async () => {
    const dev = await device();
    const s = identify(dev, command(6, { cdw10: 1, prp1Lo: 1 << 20, prp2Lo: 0 }));
    expect(s).not.toBe(0);
    expect(s & 0xff).toBe(S.SC_DATA_TRANSFER_ERROR);
  });
});

function getF(dev: TestDevice, fid: number, f: Partial<Command> = {}, sel = 0): [number, number] {
  const cmd = command(0x0a, { ...f, cdw10: fid | (sel << 8) });
  const s = getFeatures(dev, cmd);
  return [s, cmd.dw0];
}

function setF(dev: TestDevice, fid: number, cdw11: number, f: Partial<Command> = {}): [S.HandlerResult, number] {
  const cmd = command(0x09, { ...f, cdw10: fid | (f.cdw10 ?? 0), cdw11 });
  const s = setFeatures(dev, cmd);
  return [s, cmd.dw0];
}

describe("Get/Set Features", () => {
  let dev: TestDevice;
  beforeEach(async () => {
    dev = await device({ maxIoQueuePairs: 8, volatileWriteCache: true });
  });

  it("reports defaults, and saved = default, and capabilities", () => {
    expect(getF(dev, F.FID_NUMBER_OF_QUEUES)).toEqual([0, 7 | (7 << 16)]);
    expect(getF(dev, F.FID_TEMPERATURE_THRESHOLD)).toEqual([0, WCTEMP_K]);
    expect(getF(dev, F.FID_TEMPERATURE_THRESHOLD, { cdw11: 1 << 20 })).toEqual([0, 0]);
    expect(getF(dev, F.FID_VOLATILE_WRITE_CACHE)).toEqual([0, 1]);
    expect(getF(dev, F.FID_ARBITRATION)).toEqual([0, 7]);
    expect(getF(dev, F.FID_ASYNC_EVENT_CONFIG)[1] & LOG.CW_TEMPERATURE).toBe(LOG.CW_TEMPERATURE);
    expect(setF(dev, F.FID_INTERRUPT_COALESCING, 0x0a05)[0]).toBe(0);
    expect(getF(dev, F.FID_INTERRUPT_COALESCING)).toEqual([0, 0x0a05]);
    expect(getF(dev, F.FID_INTERRUPT_COALESCING, {}, F.SEL_DEFAULT)).toEqual([0, 0]);
    expect(getF(dev, F.FID_INTERRUPT_COALESCING, {}, F.SEL_SAVED)).toEqual([0, 0]);
    expect(getF(dev, F.FID_INTERRUPT_COALESCING, {}, F.SEL_SUPPORTED)).toEqual([0, F.CAP_CHANGEABLE]);
    expect(getF(dev, F.FID_INTERRUPT_COALESCING, {}, 4)[0]).toBe(INVALID_FIELD);
  });

  it("refuses to save, unknown features, Keep Alive, and namespace-specific sets", () => {
    const notSaveable = S.SCT_COMMAND_SPECIFIC | S.SC_FEATURE_NOT_SAVEABLE | S.STATUS_DNR;
    expect(setF(dev, F.FID_ARBITRATION, 0, { cdw10: F.CDW10_SV })[0]).toBe(notSaveable);
    for (const fid of [0x00, 0x03, 0x0c, 0x0d, F.FID_KEEP_ALIVE_TIMER, 0x80]) {
      expect(getF(dev, fid)[0]).toBe(INVALID_FIELD);
      expect(setF(dev, fid, 0)[0]).toBe(INVALID_FIELD);
    }
    expect(setF(dev, F.FID_ARBITRATION, 0, { nsid: 1 })[0]).toBe(S.SCT_COMMAND_SPECIFIC | S.SC_FEATURE_NOT_NS_SPECIFIC | S.STATUS_DNR);
    expect(setF(dev, F.FID_ARBITRATION, 0, { nsid: 0xffffffff })[0]).toBe(0);
    expect(getF(dev, F.FID_ARBITRATION, { nsid: 1 })[0]).toBe(0);
    expect(getF(dev, F.FID_ARBITRATION, { nsid: 33 })[0]).toBe(INVALID_NS);
  });

  it("allocates queues up to the configured maximum, once, before any I/O queue exists", () => {
    expect(setF(dev, F.FID_NUMBER_OF_QUEUES, 0xffff)[0]).toBe(INVALID_FIELD);
    expect(setF(dev, F.FID_NUMBER_OF_QUEUES, 0xffff << 16)[0]).toBe(INVALID_FIELD);
    expect(setF(dev, F.FID_NUMBER_OF_QUEUES, 2 | (63 << 16))).toEqual([0, 2 | (7 << 16)]);
    expect([dev.features.nsqa, dev.features.ncqa]).toEqual([2, 7]);
    expect(getF(dev, F.FID_NUMBER_OF_QUEUES)).toEqual([0, 2 | (7 << 16)]);
    const cq = dev.mem.alloc(4096);
    expect(dev.hotPath.createCq(1, cq, 0, 16, true)).toBe(true);
    expect(setF(dev, F.FID_NUMBER_OF_QUEUES, 0)[0]).toBe(S.SCT_GENERIC | S.SC_COMMAND_SEQUENCE_ERROR | S.STATUS_DNR);
    dev.features.reset();
    expect([dev.features.nsqa, dev.features.ncqa]).toEqual([7, 7]);
  });

  it("offers power state 0 only and interrupt vector 0 only", () => {
    expect(setF(dev, F.FID_POWER_MANAGEMENT, 1)[0]).toBe(INVALID_FIELD);
    expect(setF(dev, F.FID_POWER_MANAGEMENT, 2 << 5)[0]).toBe(0);
    expect(getF(dev, F.FID_POWER_MANAGEMENT)).toEqual([0, 2 << 5]);
    expect(setF(dev, F.FID_INTERRUPT_VECTOR_CONFIG, 1)[0]).toBe(INVALID_FIELD);
    expect(getF(dev, F.FID_INTERRUPT_VECTOR_CONFIG, { cdw11: 1 })[0]).toBe(INVALID_FIELD);
    expect(getF(dev, F.FID_INTERRUPT_VECTOR_CONFIG)).toEqual([0, 0]);
  });

  it("writes interrupt coalescing into the hot path, and zeros while CD is set", () => {
    setF(dev, F.FID_INTERRUPT_COALESCING, 0x0304);
    expect(dev.hotPath.coalescing).toEqual({ threshold: 4, time: 3 });
    expect(setF(dev, F.FID_INTERRUPT_VECTOR_CONFIG, F.IVC_CD)[0]).toBe(0);
    expect(dev.hotPath.coalescing).toEqual({ threshold: 0, time: 0 });
    expect(getF(dev, F.FID_INTERRUPT_VECTOR_CONFIG)).toEqual([0, F.IVC_CD]);
    expect(getF(dev, F.FID_INTERRUPT_COALESCING)).toEqual([0, 0x0304]);
    setF(dev, F.FID_INTERRUPT_VECTOR_CONFIG, 0);
    expect(dev.hotPath.coalescing).toEqual({ threshold: 4, time: 3 });
  });

  it("rejects DULBE and keeps the error recovery time", () => {
    expect(setF(dev, F.FID_ERROR_RECOVERY, F.ERR_DULBE)[0]).toBe(INVALID_FIELD);
    expect(setF(dev, F.FID_ERROR_RECOVERY, 25)[0]).toBe(0);
    expect(getF(dev, F.FID_ERROR_RECOVERY)).toEqual([0, 25]);
    expect(setF(dev, F.FID_WRITE_ATOMICITY, 1)[0]).toBe(0);
    expect(getF(dev, F.FID_WRITE_ATOMICITY)).toEqual([0, 1]);
  });

  it("has no write cache feature without a cache", async () => {
    const plain = await device({ volatileWriteCache: false });
    expect(getF(plain, F.FID_VOLATILE_WRITE_CACHE)[0]).toBe(INVALID_FIELD);
    expect(setF(plain, F.FID_VOLATILE_WRITE_CACHE, 1)[0]).toBe(INVALID_FIELD);
    expect(plain.features.writeCacheEnabled).toBe(false);
  });

  it("flushes when the write cache is turned off, asynchronously when the backend is", async () => {
    let flushes = 0;
    let release: () => void = () => {};
    const slow = Object.assign(new MemoryBackend(65536), {
      flush: (): Promise<void> => {
        flushes++;
        return new Promise<void>((r) => (release = r));
      },
    });
    const d = await device({ volatileWriteCache: true }, [slow, slow]);
    expect(setF(d, F.FID_VOLATILE_WRITE_CACHE, 1)[0]).toBe(0);
    expect(flushes).toBe(0);
    expect(setF(d, F.FID_VOLATILE_WRITE_CACHE, 0)[0]).toBe(LATER);
    expect(flushes).toBe(1); // the shared backend once
    expect(d.features.writeCacheEnabled).toBe(false);
    expect(d.completed).toHaveLength(0);
    release();
    await new Promise((r) => setTimeout(r, 0));
    expect(d.completed).toHaveLength(1);
    expect(d.completed[0][0]).toBe(d.held[0]);
    expect(d.completed[0][1]).toBe(0);
    expect(setF(d, F.FID_VOLATILE_WRITE_CACHE, 0)[0]).toBe(0); // already off: nothing to flush
  });

  it("completes a synchronous flush at once", () => {
    expect(setF(dev, F.FID_VOLATILE_WRITE_CACHE, 0)[0]).toBe(0);
    expect(getF(dev, F.FID_VOLATILE_WRITE_CACHE)).toEqual([0, 0]);
  });

  it("keeps a 48-bit millisecond timestamp the host set, and says so", () => {
    const get = (): Uint8Array => {
      const [s, d] = fetch(dev, getFeatures, { cdw10: F.FID_TIMESTAMP }, 8);
      expect(s).toBe(0);
      return d;
    };
    const before = get();
    expect(before[6]).toBe(0); // origin: since reset
    const t = 0x1234_5678_9abc;
    const buf = dev.mem.alloc(4096);
    const b = new Uint8Array(8);
    dv(b).setUint32(0, t % 2 ** 32, true);
    dv(b).setUint16(4, Math.floor(t / 2 ** 32), true);
    dev.mem.fill(buf, b);
    expect(setFeatures(dev, command(9, { cdw10: F.FID_TIMESTAMP, prp1Lo: buf }))).toBe(0);
    const after = get();
    const ms = dv(after).getUint32(0, true) + dv(after).getUint16(4, true) * 2 ** 32;
    expect(ms - t).toBeGreaterThanOrEqual(0);
    expect(ms - t).toBeLessThan(1000);
    expect(after[6]).toBe(F.TS_ORIGIN_HOST << 1);
    expect(after[7]).toBe(0);
  });

  it("raises the temperature warning and event when a threshold is crossed", () => {
    dev.events.request(command(0x0c, { cid: 7 }));
    expect(setF(dev, F.FID_TEMPERATURE_THRESHOLD, 1 << 16)[0]).toBe(INVALID_FIELD); // sensor 1 does not exist
    expect(setF(dev, F.FID_TEMPERATURE_THRESHOLD, 2 << 20)[0]).toBe(INVALID_FIELD);
    expect(setF(dev, F.FID_TEMPERATURE_THRESHOLD, 300)[0]).toBe(0);
    expect(getF(dev, F.FID_TEMPERATURE_THRESHOLD)).toEqual([0, 300]);
    expect(dev.health.criticalWarning & LOG.CW_TEMPERATURE).toBe(LOG.CW_TEMPERATURE);
    expect(dev.aerCompletions.map((c) => [c.cid, c.dw0])).toEqual([[7, LOG.AE_TYPE_SMART | (LOG.AE_SMART_TEMPERATURE << 8) | (LOG.LID_SMART << 16)]]);
    expect(setF(dev, F.FID_TEMPERATURE_THRESHOLD, WCTEMP_K | (F.TMPSEL_ALL << 16))[0]).toBe(0);
    expect(dev.health.criticalWarning & LOG.CW_TEMPERATURE).toBe(0);
    expect(setF(dev, F.FID_TEMPERATURE_THRESHOLD, 320 | (1 << 20))[0]).toBe(0); // under 320 K
    expect(getF(dev, F.FID_TEMPERATURE_THRESHOLD, { cdw11: 1 << 20 })).toEqual([0, 320]);
    expect(dev.health.criticalWarning & LOG.CW_TEMPERATURE).toBe(LOG.CW_TEMPERATURE);
  });

  it("sends no SMART event the configuration turned off", () => {
    setF(dev, F.FID_ASYNC_EVENT_CONFIG, 0);
    dev.events.request(command(0x0c, { cid: 1 }));
    setF(dev, F.FID_TEMPERATURE_THRESHOLD, 300);
    expect(dev.health.criticalWarning & LOG.CW_TEMPERATURE).toBe(LOG.CW_TEMPERATURE);
    expect(dev.aerCompletions).toHaveLength(0);
  });
});

function getLog(dev: TestDevice, lid: number, bytes: number, f: Partial<Command> = {}): [number, Uint8Array] {
  const numd = bytes / 4 - 1;
  const [s, d] = fetch(dev, getLogPage, { nsid: 0xffffffff, ...f, cdw10: lid | ((numd & 0xffff) << 16) | (f.cdw10 ?? 0), cdw11: numd >>> 16 }, bytes);
  return [s, d];
}

describe("Get Log Page", () => {
  it("reports SMART counters controller-wide", async () => {
    const dev = await device({}, [new MemoryBackend(65536), new MemoryBackend(65536)]);
    dev.health.read(512);
    dev.health.read(512 * 1000);
    dev.health.write(4096);
    dev.health.mediaError();
    dev.errors.record(undefined, 0xffff, S.status(S.SCT_GENERIC, S.SC_INVALID_FIELD, false));
    for (const nsid of [0, 1, 2, 0xffffffff]) {
      const [s, d] = getLog(dev, LOG.LID_SMART, 512, { nsid });
      expect(s).toBe(0);
      const v = dv(d);
      expect(v.getUint16(LOG.SMART_COMPOSITE_TEMP, true)).toBe(308);
      expect(d[LOG.SMART_AVAIL_SPARE]).toBe(100);
      expect(d[LOG.SMART_SPARE_THRESH]).toBe(10);
      expect(v.getUint32(LOG.SMART_DATA_UNITS_READ, true)).toBe(2); // 1001 units, rounded up
      expect(v.getUint32(LOG.SMART_DATA_UNITS_WRITTEN, true)).toBe(1);
      expect(v.getUint32(LOG.SMART_HOST_READS, true)).toBe(2);
      expect(v.getUint32(LOG.SMART_HOST_WRITES, true)).toBe(1);
      expect(v.getUint32(LOG.SMART_POWER_CYCLES, true)).toBe(1);
      expect(v.getUint32(LOG.SMART_MEDIA_ERRORS, true)).toBe(1);
      expect(v.getUint32(LOG.SMART_ERROR_ENTRIES, true)).toBe(1);
    }
    expect(getLog(dev, LOG.LID_SMART, 512, { nsid: 3 })[0]).toBe(INVALID_NS);
  });

  it("returns the error log newest first", async () => {
    const dev = await device();
    dev.errors.record(command(2, { cid: 5, nsid: 1 }), 3, S.status(S.SCT_GENERIC, S.SC_LBA_OUT_OF_RANGE, false), { lba: 2 ** 40, paramByte: 40, paramBit: 2 });
    dev.errors.record(command(6, { cid: 9 }), 0, INVALID_FIELD);
    const [s, d] = getLog(dev, LOG.LID_ERROR_INFO, 4096);
    expect(s).toBe(0);
    const v = dv(d);
    expect(v.getUint32(LOG.ERR_COUNT, true)).toBe(2);
    expect(v.getUint16(LOG.ERR_CID, true)).toBe(9);
    expect(v.getUint16(LOG.ERR_STATUS, true)).toBe(INVALID_FIELD << 1);
    expect(v.getUint16(LOG.ERR_PARAM_LOC, true)).toBe(0xffff);
    const e = 64;
    expect(v.getUint32(e + LOG.ERR_COUNT, true)).toBe(1);
    expect(v.getUint16(e + LOG.ERR_SQID, true)).toBe(3);
    expect(v.getUint16(e + LOG.ERR_CID, true)).toBe(5);
    expect(v.getUint16(e + LOG.ERR_PARAM_LOC, true)).toBe(40 | (2 << 8));
    expect(v.getUint32(e + LOG.ERR_LBA + 4, true)).toBe(256);
    expect(v.getUint32(e + LOG.ERR_NSID, true)).toBe(1);
    expect(d.subarray(128).every((b) => b === 0)).toBe(true);
  });

  it("returns the firmware slot and effects logs", async () => {
    const dev = await device({ firmware: "9.9" });
    const [s, d] = getLog(dev, LOG.LID_FW_SLOT, 512);
    expect(s).toBe(0);
    expect(d[LOG.FW_AFI]).toBe(1);
    expect(ascii(d, LOG.FW_FRS1, 8)).toBe("9.9     ");
    expect(d.subarray(LOG.FW_FRS1 + 8).every((b) => b === 0)).toBe(true);
    const [s2, e] = getLog(dev, LOG.LID_CMD_EFFECTS, 4096);
    expect(s2).toBe(0);
    const acs = (op: number): number => dv(e).getUint32(op * 4, true);
    const iocs = (op: number): number => dv(e).getUint32(1024 + op * 4, true);
    for (const op of [0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0a, 0x0c, 0x18, 0x7c]) expect(acs(op) & LOG.EFF_CSUPP).toBe(1);
    for (const op of [0x03, 0x10]) expect(acs(op)).toBe(0);
    for (const op of [0x00, 0x01, 0x02, 0x05, 0x08, 0x09]) expect(iocs(op) & LOG.EFF_CSUPP).toBe(1);
    expect(iocs(0x01) & LOG.EFF_LBCC).toBe(LOG.EFF_LBCC);
    expect(iocs(0x04)).toBe(LOG.EFF_CSUPP | LOG.EFF_LBCC);
  });

  it("honours the offset and validates it", async () => {
    const dev = await device({ firmware: "ABCDEFGH" });
    const [s, d] = getLog(dev, LOG.LID_FW_SLOT, 8, { cdw12: 8 });
    expect(s).toBe(0);
    expect(ascii(d, 0, 8)).toBe("ABCDEFGH");
    expect(getLog(dev, LOG.LID_FW_SLOT, 8, { cdw12: 6 })[0]).toBe(INVALID_FIELD);
    expect(getLog(dev, LOG.LID_FW_SLOT, 8, { cdw12: 516 })[0]).toBe(INVALID_FIELD);
    expect(getLog(dev, LOG.LID_FW_SLOT, 8, { cdw13: 1 })[0]).toBe(INVALID_FIELD);
    const [s3, tail] = getLog(dev, LOG.LID_FW_SLOT, 16, { cdw12: 508 });
    expect(s3).toBe(0);
    expect(tail.every((b) => b === 0)).toBe(true);
  });

  it("refuses an offset at or past the end of every log, and reads zeros past the end of a long transfer", async () => {
    // The spec: an offset beyond the log is Invalid Field in Command; dwords requested past its end
    // are undefined, and zeros is what the device returns there.
    const dev = await device({ firmware: "ABCDEFGH" });
    const sizes: Array<[number, number]> = [
      [LOG.LID_ERROR_INFO, ERROR_LOG_ENTRIES * LOG.ERROR_ENTRY_SIZE],
      [LOG.LID_SMART, LOG.SMART_LOG_SIZE],
      [LOG.LID_FW_SLOT, LOG.FW_SLOT_LOG_SIZE],
      [LOG.LID_CMD_EFFECTS, effectsLog(dev.config).length],
      [LOG.LID_CHANGED_NS_LIST, LOG.CHANGED_NS_LIST_SIZE],
    ];
    for (const [lid, size] of sizes) {
      for (const offset of [size, size + 4, 2 ** 32, 2 ** 40]) {
        expect(getLog(dev, lid, 8, { cdw12: offset >>> 0, cdw13: Math.floor(offset / 2 ** 32) })[0], `LID ${lid} offset ${offset}`).toBe(INVALID_FIELD);
      }
      const [whole] = [getLog(dev, lid, size)[1]];
      const [s, tail] = getLog(dev, lid, 16, { cdw12: size - 4 });
      expect(s, `LID ${lid} last dword`).toBe(0);
      expect([...tail.subarray(0, 4)]).toEqual([...whole.subarray(size - 4)]);
      expect(tail.subarray(4).every((b) => b === 0)).toBe(true);
    }
  });

  it("rejects unknown logs and transfers beyond MDTS", async () => {
    const dev = await device({ mdts: 1 });
    for (const lid of [0x00, 0x06, 0x07, 0x80, 0xc0]) {
      expect(getLog(dev, lid, 512)[0]).toBe(S.SCT_COMMAND_SPECIFIC | S.SC_INVALID_LOG_PAGE | S.STATUS_DNR);
    }
    expect(getLog(dev, LOG.LID_ERROR_INFO, 8192)[0]).toBe(0);
    expect(getLog(dev, LOG.LID_ERROR_INFO, 8196)[0]).toBe(INVALID_FIELD);
  });

  it("returns an empty Changed Namespace List, whose read answers a namespace notice", async () => {
    const dev = await device();
    const [s, d] = getLog(dev, LOG.LID_CHANGED_NS_LIST, 4096);
    expect(s).toBe(0);
    expect(d.every((b) => b === 0)).toBe(true);
    setF(dev, F.FID_ASYNC_EVENT_CONFIG, F.AEC_NS_ATTR | F.AEC_TELEMETRY); // what Linux sets, plus one we lack
    expect(getF(dev, F.FID_ASYNC_EVENT_CONFIG)).toEqual([0, F.AEC_NS_ATTR]);
    dev.events.raise(LOG.AE_TYPE_NOTICE, LOG.AE_NOTICE_NS_ATTR, LOG.LID_CHANGED_NS_LIST);
    dev.events.raise(LOG.AE_TYPE_NOTICE, LOG.AE_NOTICE_NS_ATTR, LOG.LID_CHANGED_NS_LIST);
    expect(dev.events.request(command(0x0c, { cid: 1 }))).toBe(0);
    expect(dev.events.request(command(0x0c, { cid: 2 }))).toBe(LATER);
    // Raised while masked: the log read that unmasks the notice reports that change too.
    dev.events.raise(LOG.AE_TYPE_NOTICE, LOG.AE_NOTICE_NS_ATTR, LOG.LID_CHANGED_NS_LIST);
    getLog(dev, LOG.LID_CHANGED_NS_LIST, 4096);
    expect(dev.aerCompletions).toEqual([]);
    dev.events.raise(LOG.AE_TYPE_NOTICE, LOG.AE_NOTICE_NS_ATTR, LOG.LID_CHANGED_NS_LIST);
    expect(dev.aerCompletions.map((c) => c.dw0)).toEqual([LOG.AE_TYPE_NOTICE | (LOG.LID_CHANGED_NS_LIST << 16)]);
  });

  it("unmasks an event type when its log is read without RAE", async () => {
    const dev = await device();
    dev.events.raise(LOG.AE_TYPE_ERROR, LOG.AE_ERR_INVALID_DB_REGISTER, LOG.LID_ERROR_INFO);
    dev.events.raise(LOG.AE_TYPE_ERROR, LOG.AE_ERR_INVALID_DB_VALUE, LOG.LID_ERROR_INFO);
    const aer = (cid: number): S.HandlerResult => dev.events.request(command(0x0c, { cid }));
    const first = command(0x0c, { cid: 1 });
    expect(dev.events.request(first)).toBe(0);
    expect(first.dw0).toBe(LOG.LID_ERROR_INFO << 16);
    expect(aer(2)).toBe(LATER); // type masked until the log is read
    getLog(dev, LOG.LID_ERROR_INFO, 64, { cdw10: LOG.CDW10_RAE });
    expect(dev.aerCompletions).toHaveLength(0);
    getLog(dev, LOG.LID_SMART, 512);
    expect(dev.aerCompletions).toHaveLength(0);
    getLog(dev, LOG.LID_ERROR_INFO, 64);
    expect(dev.aerCompletions.map((c) => [c.cid, c.dw0])).toEqual([[2, (LOG.AE_ERR_INVALID_DB_VALUE << 8) | (LOG.LID_ERROR_INFO << 16)]]);
  });
});

describe("AsyncEvents", () => {
  const make = (aec = 0xff): [AsyncEvents, [Command, number][]] => {
    const done: [Command, number][] = [];
    return [new AsyncEvents((c, s) => done.push([c, s]), () => {}, () => aec), done];
  };

  it("parks at most AERL + 1 requests", () => {
    const [ev] = make();
    for (let i = 0; i < AER_LIMIT; i++) expect(ev.request(command(0x0c, { cid: i }))).toBe(LATER);
    expect(ev.outstanding).toBe(AER_LIMIT);
    expect(ev.request(command(0x0c, { cid: 9 }))).toBe(S.SCT_COMMAND_SPECIFIC | S.SC_AER_LIMIT_EXCEEDED);
  });

  it("keeps its own copy of a parked command", () => {
    const [ev, done] = make();
    const cmd = command(0x0c, { cid: 3 });
    ev.request(cmd);
    cmd.cid = 99; // the controller reuses its Command object
    ev.raise(LOG.AE_TYPE_ERROR, 0, LOG.LID_ERROR_INFO);
    expect(done[0][0].cid).toBe(3);
    expect(done[0][0]).not.toBe(cmd);
  });

  it("completes oldest requests with oldest events; one per type until the log is read", () => {
    const [ev, done] = make();
    ev.request(command(0x0c, { cid: 1 }));
    ev.request(command(0x0c, { cid: 2 }));
    ev.request(command(0x0c, { cid: 3 }));
    ev.raise(LOG.AE_TYPE_SMART, LOG.AE_SMART_TEMPERATURE, LOG.LID_SMART);
    ev.raise(LOG.AE_TYPE_SMART, LOG.AE_SMART_SPARE, LOG.LID_SMART);
    ev.raise(LOG.AE_TYPE_ERROR, LOG.AE_ERR_INVALID_DB_VALUE, LOG.LID_ERROR_INFO);
    expect(done.map(([c]) => c.cid)).toEqual([1, 2]);
    expect(done[0][0].dw0).toBe(1 | (1 << 8) | (2 << 16));
    expect(done[1][0].dw0).toBe(0 | (1 << 8) | (1 << 16));
    expect(ev.queuedEvents).toHaveLength(1);
    ev.logRead(LOG.LID_SMART, true);
    expect(done).toHaveLength(2);
    ev.logRead(LOG.LID_SMART, false);
    expect(done.map(([c]) => c.cid)).toEqual([1, 2, 3]);
    expect(done[2][0].dw0).toBe(1 | (2 << 8) | (2 << 16));
  });

  it("drops duplicates and disabled SMART events but always reports errors", () => {
    const [ev, done] = make(0);
    ev.raise(LOG.AE_TYPE_SMART, LOG.AE_SMART_TEMPERATURE, LOG.LID_SMART);
    ev.raise(LOG.AE_TYPE_NOTICE, 0, 4);
    ev.raise(LOG.AE_TYPE_ERROR, 0, LOG.LID_ERROR_INFO);
    ev.raise(LOG.AE_TYPE_ERROR, 0, LOG.LID_ERROR_INFO);
    expect(ev.queuedEvents).toHaveLength(1);
    ev.request(command(0x0c, { cid: 1 }));
    expect(done).toHaveLength(0); // an event waiting answers the request directly
    const c = command(0x0c, { cid: 2 });
    expect(new AsyncEvents(() => {}, () => {}).request(c)).toBe(LATER);
  });

  it("answers a request at once when an event is waiting", () => {
    const [ev, done] = make();
    ev.raise(LOG.AE_TYPE_ERROR, 1, LOG.LID_ERROR_INFO);
    const c = command(0x0c, { cid: 4 });
    expect(ev.request(c)).toBe(0);
    expect(c.dw0).toBe((1 << 8) | (1 << 16));
    expect(done).toHaveLength(0);
  });

  it("forgets requests and events on reset, and hands back aborted requests", () => {
    const [ev, done] = make();
    ev.request(command(0x0c, { cid: 1 }));
    ev.request(command(0x0c, { cid: 2 }));
    expect(ev.abort(2)?.cid).toBe(2);
    expect(ev.abort(2)).toBeUndefined();
    ev.reset();
    expect(ev.outstanding).toBe(0);
    ev.raise(LOG.AE_TYPE_ERROR, 0, LOG.LID_ERROR_INFO);
    expect(done).toHaveLength(0);
    ev.reset();
    expect(ev.queuedEvents).toHaveLength(0);
  });
});

describe("ErrorLog", () => {
  it("keeps the newest 64 entries with a growing count", () => {
    const log = new ErrorLog();
    for (let i = 1; i <= 100; i++) log.record(command(1, { cid: i }), 1, INVALID_FIELD);
    expect(log.count).toBe(100);
    const d = log.bytes();
    expect(d.length).toBe(ERROR_LOG_ENTRIES * 64);
    for (let i = 0; i < ERROR_LOG_ENTRIES; i++) {
      expect(dv(d).getUint32(i * 64 + LOG.ERR_COUNT, true)).toBe(100 - i);
      expect(dv(d).getUint16(i * 64 + LOG.ERR_CID, true)).toBe(100 - i);
    }
    log.reset();
    expect(log.count).toBe(0);
    expect(log.bytes().every((b) => b === 0)).toBe(true);
  });
});

describe("Health", () => {
  it("counts power-on hours from its clock and tracks the temperature warning", () => {
    let t = 0;
    const h = new Health(() => t);
    t = 3 * 3_600_000 + 5;
    h.addBusyTime(125_000);
    const d = dv(h.bytes());
    expect(d.getUint32(LOG.SMART_POWER_ON_HOURS, true)).toBe(3);
    expect(d.getUint32(LOG.SMART_BUSY_TIME, true)).toBe(2);
    h.setTemperature(350);
    expect(h.updateTemperatureWarning(343, 0)).toBe(true);
    expect(h.updateTemperatureWarning(343, 0)).toBe(false); // already set: no second event
    expect(h.bytes()[0]).toBe(LOG.CW_TEMPERATURE);
    h.setTemperature(300);
    expect(h.updateTemperatureWarning(343, 0)).toBe(false);
    expect(h.criticalWarning).toBe(0);
  });
});

describe("Commands Supported and Effects table", () => {
  it("gates Doorbell Buffer Config on the configuration", () => {
    expect(adminCommandSupported(0x7c, { shadowDoorbells: true })).toBe(true);
    expect(adminCommandSupported(0x7c, { shadowDoorbells: false })).toBe(false);
    expect(adminCommandSupported(0x10, { shadowDoorbells: true })).toBe(false);
    expect(ioCommandSupported(0x09)).toBe(true);
    expect(ioCommandSupported(0x7e)).toBe(false);
    expect(dv(effectsLog({ shadowDoorbells: false })).getUint32(0x7c * 4, true)).toBe(0);
  });
});

// The namespace panel: adds a picked image file or a new blank disk to the running guest as a
// new namespace (Linux shows /dev/nvme0nN by itself), removes one again, and lists them all with
// their backends and sizes. A blank disk is kept in the browser (OPFS) when the persistent option
// is on, else in memory.

import { FileBackend, MemoryBackend, OpfsBackend, type BlockBackend, type NamespaceInfo, type NvmeV86 } from "../index.ts";
import { ui } from "./elements.ts";
import { formatBytes } from "./loader.ts";

/** A namespace as the page lists it (window.nvmeDemo.namespaces()). */
export interface NamespaceRow {
  nsid: number;
  bytes: number;
  blockSize: number;
  attached: boolean;
  origin: NamespaceInfo["origin"];
  /** Where its blocks are. */
  backend: string;
}

export class NamespacePanel {
  /** What the page put behind each backend it added. */
  private readonly labels = new WeakMap<BlockBackend, string>();
  private busy = false;
  /** Disks in browser storage the page opened for namespaces: closed once their namespace is gone. */
  private readonly stored = new Set<OpfsBackend>();

  constructor(
    private readonly nvme: () => NvmeV86 | undefined,
    /** Namespace 1's label (the disk in use). */
    private readonly bootDisk: () => string,
  ) {}

  listen(): void {
    ui.nsFile.addEventListener("change", () => {
      const file = ui.nsFile.files?.[0];
      ui.nsFile.value = "";
      if (file) void this.add(() => new FileBackend(file), file.name);
    });
    ui.nsAddBlank.addEventListener("click", () => {
      const mib = Number(ui.nsBlankMib.value);
      if (!(Number.isInteger(mib) && mib >= 1 && mib <= 4096)) return this.say("a blank disk is 1 to 4096 MiB");
      const persistent = ui.persistent.checked;
      const next = this.nvme()?.namespaces().reduce((n, x) => Math.max(n, x.nsid + 1), 1) ?? 1;
      void this.add(async () => (persistent ? this.persistentDisk(next, mib << 20) : new MemoryBackend(mib << 20)),
        `blank, ${persistent ? "in browser storage" : "in memory"}`);
    });
    ui.nsList.addEventListener("click", (ev) => {
      const nsid = Number((ev.target as HTMLElement).dataset.removeNsid);
      if (nsid) void this.remove(nsid);
    });
  }

  /** A new zeroed disk in browser storage for a namespace (its name is unique: an old one may still be closing). */
  async persistentDisk(nsid: number, bytes: number): Promise<OpfsBackend> {
    const disk = await OpfsBackend.open({ name: `namespace-${nsid}-${Date.now().toString(36)}`, size: bytes });
    this.stored.add(disk);
    this.labels.set(disk, "blank, in browser storage");
    return disk;
  }

  /** Adds a namespace on the backend `make` opens; its NSID, or undefined when it failed (said on the page). */
  async add(make: () => BlockBackend | Promise<BlockBackend>, label: string): Promise<number | undefined> {
    const nvme = this.nvme();
    if (!nvme || this.busy) return undefined;
    this.busy = true;
    try {
      const backend = await make();
      const nsid = nvme.addNamespace({ backend });
      this.labels.set(backend, label);
      this.say(`namespace ${nsid} added: /dev/nvme0n${nsid} in the guest`);
      return nsid;
    } catch (e) {
      this.say(`cannot add: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    } finally {
      this.busy = false;
      this.show();
    }
  }

  async remove(nsid: number): Promise<void> {
    const nvme = this.nvme();
    if (!nvme) return;
    try {
      this.say(`removing namespace ${nsid}…`);
      const backend = await nvme.removeNamespace(nsid);
      this.say(`namespace ${nsid} removed`);
    } catch (e) {
      this.say(`cannot remove namespace ${nsid}: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.show();
  }

  rows(): NamespaceRow[] {
    return (this.nvme()?.namespaces() ?? []).map((n) => ({
      nsid: n.nsid,
      bytes: n.bytes,
      blockSize: n.logicalBlockSize,
      attached: n.attached,
      origin: n.origin,
      backend: n.origin === "guest"
        ? `${this.labels.get(n.backend) ?? "blank, in memory"}, created by the guest`
        : this.labels.get(n.backend) ?? (n.nsid === 1 ? this.bootDisk() : "added by the host"),
    }));
  }

  /** Redraws the list (called on a timer: the guest creates and attaches namespaces too). */
  show(): void {
    const nvme = this.nvme();
    const inUse = new Set(nvme?.namespaces().map((n) => n.backend));
    for (const disk of this.stored) {
      if (inUse.has(disk)) continue;
      this.stored.delete(disk);
      disk.close().catch((e) => console.warn(`closing a removed namespace's disk: ${e}`));
    }
    ui.nsAddBlank.disabled = !nvme || this.busy;
    ui.nsFileButton.classList.toggle("disabled", !nvme || this.busy);
    ui.nsFile.disabled = !nvme || this.busy;
    const rows = this.rows().map((r) => {
      const tr = document.createElement("tr");
      const cells = [String(r.nsid), r.attached ? `/dev/nvme0n${r.nsid}` : "(detached)", r.backend, `${formatBytes(r.bytes)} (${r.blockSize}-byte blocks)`];
      for (const c of cells) tr.append(Object.assign(document.createElement("td"), { textContent: c }));
      const td = document.createElement("td");
      if (r.nsid !== 1) td.append(Object.assign(document.createElement("button"), { type: "button", textContent: "Remove", className: "small" }));
      td.querySelector("button")?.setAttribute("data-remove-nsid", String(r.nsid));
      tr.append(td);
      return tr;
    });
    const key = rows.map((r) => r.textContent).join("|");
    if (ui.nsList.dataset.key !== key) {
      ui.nsList.dataset.key = key;
      ui.nsList.replaceChildren(...rows);
    }
  }

  private say(text: string): void {
    ui.nsMessage.textContent = text;
  }
}

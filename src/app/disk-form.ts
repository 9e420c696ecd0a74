// The disk controls: which disk to boot (bundled image, URL, picked file; persistent or not),
// what they enable, the hint under them, and the panel describing the disk in use.

import type { DemoState } from "./demo-api.ts";
import { baseName, describeInUse, loadChoice, persistentName, saveChoice, type DiskChoice, type OpenDisk } from "./disk.ts";
import { ui } from "./elements.ts";

const sameChoice = (a: DiskChoice, b: DiskChoice): boolean =>
  a.source === b.source &&
  (a.source !== "url" || a.url === b.url) &&
  (a.source === "file" || a.read === b.read) &&
  (a.source !== "file" || a.file?.name === b.file?.name && a.file?.size === b.file?.size && a.file?.lastModified === b.file?.lastModified) &&
  a.persistent === b.persistent &&
  a.copy === b.copy;

export class DiskForm {
  /** The file the user picked (a page cannot keep one across a reload). */
  picked: File | undefined;
  /** The remembered choice (its file identity names a persistent disk even before a file is picked). */
  private remembered = loadChoice();

  /** The choice the controls show. */
  choice(): DiskChoice {
    const source = ui.sourceUrl.checked ? "url" : ui.sourceFile.checked ? "file" : "default";
    const f = this.picked ?? this.remembered.file;
    return {
      source,
      url: ui.url.value.trim(),
      read: ui.readDownload.checked ? "download" : "lazy",
      persistent: ui.persistent.checked,
      copy: ui.persistent.checked && ui.copy.checked,
      file: f ? { name: f.name, size: f.size, lastModified: f.lastModified } : undefined,
    };
  }

  show(c: DiskChoice): void {
    ui.sourceDefault.checked = c.source === "default";
    ui.sourceUrl.checked = c.source === "url";
    ui.sourceFile.checked = c.source === "file";
    ui.url.value = c.url;
    ui.readLazy.checked = c.read === "lazy";
    ui.readDownload.checked = c.read === "download";
    ui.persistent.checked = c.persistent;
    ui.copy.checked = c.copy;
    if (c.file) ui.fileName.textContent = c.file.name;
  }

  /** Shows the choice remembered from the last visit and returns it: the page boots it at load. */
  restore(): DiskChoice {
    if (this.remembered.source === "file" && !this.remembered.persistent) this.remembered = { ...this.remembered, source: "default" };
    this.show(this.remembered);
    return this.remembered;
  }

  /** Remembers a choice whose disk opened. */
  remember(c: DiskChoice): void {
    this.remembered = c;
    // A picked file cannot come back after a reload: remember it only where its persistent disk can.
    saveChoice(c.source === "file" && !c.persistent ? { ...c, source: "default" } : c);
  }

  /** Enables what applies now; the hint says why the disk in use differs from the controls, or what went wrong. */
  update(p: { busy: boolean; inUse: OpenDisk | undefined; state: DemoState; problem: string }): void {
    const c = this.choice();
    ui.copy.disabled = !c.persistent;
    ui.readLazy.disabled = ui.readDownload.disabled = c.source === "file";
    ui.sourceFile.disabled = !this.picked && !this.remembered.file;
    ui.boot.disabled = p.busy || (c.source === "url" && !c.url) || (c.source === "file" && !this.picked && !c.persistent);
    ui.reset.disabled = p.busy || !c.persistent;
    ui.export.disabled = p.busy || !p.inUse || p.state === "loading";
    let hint = "";
    if (p.problem) hint = p.problem;
    else if (p.inUse && !sameChoice(c, p.inUse.choice)) hint = "Changed: the new settings take effect when you press “Boot this disk”.";
    else if (!p.inUse && p.state !== "loading" && p.state !== "booting") hint = "Choose a disk and press “Boot this disk”.";
    ui.pending.textContent = hint;
    ui.pending.hidden = !hint;
    ui.pending.classList.toggle("warn", !!p.problem);
  }

  /** `boot` gets what the user asks to boot; `changed` runs on every edit. */
  listen(boot: (c: DiskChoice, o?: { reset?: boolean }) => void, changed: () => void): void {
    ui.diskForm.addEventListener("input", () => changed());
    ui.diskForm.addEventListener("change", () => changed());
    ui.url.addEventListener("focus", () => {
      ui.sourceUrl.checked = true;
      changed();
    });
    ui.diskForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      boot(this.choice());
    });
    ui.picker.addEventListener("change", () => {
      const file = ui.picker.files?.[0];
      ui.picker.value = "";
      if (!file) return;
      this.picked = file;
      ui.fileName.textContent = file.name;
      ui.sourceFile.checked = true;
      boot(this.choice());
    });
    ui.reset.addEventListener("click", () => {
      const c = this.choice();
      if (!c.persistent) return;
      const ok = confirm(`Drop every change stored in this browser for ${baseName(c)} (persistent disk ${persistentName(c)}) and boot the image as it is?`);
      if (ok) boot(c, { reset: true });
    });
  }
}

/** The panel describing the disk in use. */
export function showDiskInfo(disk: OpenDisk | undefined): void {
  if (!disk) {
    ui.diskSource.textContent = ui.diskDurability.textContent = ui.diskDetail.textContent = "–";
    return;
  }
  const d = describeInUse(disk);
  ui.diskSource.textContent = d.source;
  ui.diskDurability.textContent = d.durability;
  ui.diskDurability.classList.toggle("vwc", disk.backend.volatileWriteCache);
  ui.diskDetail.textContent = d.detail;
}

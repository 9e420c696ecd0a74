// Progress bars for the long steps (downloading an image, copying it into browser storage,
// exporting the disk): one row each, several at once, each with an optional Cancel button.

import { formatBytes } from "./loader.ts";

interface Row {
  root: HTMLElement;
  bar: HTMLProgressElement;
  text: HTMLElement;
  cancel: HTMLButtonElement;
  onCancel: (() => void) | undefined;
}

export class ProgressBars {
  private readonly rows = new Map<string, Row>();

  constructor(private readonly root: HTMLElement) {}

  /**
   * Shows (or updates) the row `id`: `loaded` of `total` bytes (total 0: unknown). `onCancel`
   * adds a Cancel button.
   */
  show(id: string, label: string, loaded: number, total: number, onCancel?: () => void): void {
    let r = this.rows.get(id);
    if (!r) {
      const root = document.createElement("div");
      root.className = "progress-row";
      root.dataset.progress = id;
      const bar = document.createElement("progress");
      bar.max = 1;
      const text = document.createElement("span");
      text.className = "progress-text";
      const cancel = document.createElement("button");
      cancel.type = "button";
      cancel.textContent = "Cancel";
      cancel.className = "small";
      cancel.hidden = true;
      root.append(bar, text, cancel);
      this.root.append(root);
      r = { root, bar, text, cancel, onCancel: undefined };
      const row = r;
      cancel.addEventListener("click", () => row.onCancel?.());
      this.rows.set(id, r);
    }
    r.onCancel = onCancel;
    r.cancel.hidden = !onCancel;
    if (total > 0) {
      r.bar.max = total;
      r.bar.value = Math.min(loaded, total);
      r.text.textContent = `${label}: ${formatBytes(loaded)} of ${formatBytes(total)} (${Math.floor((100 * loaded) / total)} %)`;
    } else {
      r.bar.removeAttribute("value"); // indeterminate
      r.text.textContent = loaded > 0 ? `${label}: ${formatBytes(loaded)}` : label;
    }
    this.root.hidden = false;
  }

  /** Shows a finished row's last words for a moment, then removes it. */
  done(id: string, text?: string, linger = 0): void {
    const r = this.rows.get(id);
    if (!r) return;
    if (text !== undefined) {
      r.text.textContent = text;
      r.cancel.hidden = true;
      if (r.bar.max > 0) r.bar.value = r.bar.max;
    }
    const remove = (): void => {
      if (this.rows.get(id) !== r) return;
      r.root.remove();
      this.rows.delete(id);
      this.root.hidden = this.rows.size === 0;
    };
    if (linger > 0) setTimeout(remove, linger);
    else remove();
  }

  has(id: string): boolean {
    return this.rows.has(id);
  }
}

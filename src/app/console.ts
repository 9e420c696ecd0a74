// The serial console panel: serial0's output as text (escape sequences dropped, backspaces
// applied) and an input line whose text goes to the guest's ttyS0 with a newline.

const MAX_SHOWN = 200_000; // characters kept on screen; the full transcript stays in `raw`

export interface ConsoleElements {
  output: HTMLElement;
  input: HTMLInputElement;
  form: HTMLFormElement;
  interrupt?: HTMLButtonElement;
}

export class SerialConsole {
  /** Every byte the guest sent, as Latin-1 text. */
  raw = "";
  private shown = "";
  private queued = "";
  private renderQueued = false;
  private esc: "" | "esc" | "csi" = "";
  private sink: ((text: string) => void) | undefined;
  private readonly history: string[] = [];
  private historyAt = 0;

  constructor(private readonly el: ConsoleElements) {
    el.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const line = el.input.value;
      if (line && this.history[this.history.length - 1] !== line) this.history.push(line);
      this.historyAt = this.history.length;
      el.input.value = "";
      this.send(`${line}\n`);
    });
    el.input.addEventListener("keydown", (ev) => {
      if (ev.key === "ArrowUp" || ev.key === "ArrowDown") {
        ev.preventDefault();
        this.historyAt = Math.max(0, Math.min(this.history.length, this.historyAt + (ev.key === "ArrowUp" ? -1 : 1)));
        el.input.value = this.history[this.historyAt] ?? "";
      } else if (ev.key === "c" && ev.ctrlKey && el.input.selectionEnd === el.input.selectionStart) {
        ev.preventDefault();
        this.send("\x03");
      }
    });
    el.interrupt?.addEventListener("click", () => {
      this.send("\x03");
      el.input.focus();
    });
  }

  /** Where typed text goes (the emulator's serial0_send); undefined while nothing runs. */
  connect(sink: ((text: string) => void) | undefined): void {
    this.sink = sink;
    this.el.input.disabled = !sink;
  }

  send(text: string): void {
    this.sink?.(text);
  }

  clear(): void {
    this.raw = "";
    this.shown = "";
    this.queued = "";
    this.esc = "";
    this.el.output.textContent = "";
  }

  /** One byte from the guest. */
  byte(b: number): void {
    const ch = String.fromCharCode(b);
    this.raw += ch;
    // ESC [ params final: cursor queries and colours are not shown.
    if (this.esc === "esc") {
      this.esc = ch === "[" ? "csi" : "";
      return;
    }
    if (this.esc === "csi") {
      if (b >= 0x40 && b <= 0x7e) this.esc = "";
      return;
    }
    if (b === 0x1b) this.esc = "esc";
    else if (b === 0x08) {
      if (this.queued) this.queued = this.queued.slice(0, -1);
      else this.shown = this.shown.slice(0, -1);
    } else if (b === 0x0a || b === 0x09 || b >= 0x20) this.queued += ch;
    // \r, bell and other controls: dropped
    if (!this.renderQueued) {
      this.renderQueued = true;
      requestAnimationFrame(() => this.render());
    }
  }

  private render(): void {
    this.renderQueued = false;
    const out = this.el.output;
    const atBottom = out.scrollHeight - out.scrollTop - out.clientHeight < 24;
    this.shown += this.queued;
    this.queued = "";
    if (this.shown.length > MAX_SHOWN) this.shown = this.shown.slice(this.shown.length - MAX_SHOWN / 2);
    out.textContent = this.shown;
    if (atBottom) out.scrollTop = out.scrollHeight;
  }
}

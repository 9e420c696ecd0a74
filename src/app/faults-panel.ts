// The fault panel: injects faults into the running guest's disk (media errors, other statuses,
// added latency, hung commands, hung ones that refuse Abort), lists them with how often each
// fired, clears them, and shows the controller's command trace. It builds its own elements below
// the namespace panel, closed until opened like it. Faults belong to the controller: a new boot starts without any.

import { formatTrace, type FaultOp, type FaultSpec, type FaultStatus, type NvmeV86 } from "../index.ts";

const OPS: FaultOp[] = ["read", "write", "flush", "any"];
const EFFECTS: { value: string; label: string }[] = [
  { value: "media-error", label: "media error (Linux: ENODATA)" },
  { value: "write-fault", label: "write fault" },
  { value: "unrecovered-read", label: "unrecovered read error" },
  { value: "data-transfer-error", label: "data transfer error" },
  { value: "internal-error", label: "internal error (Linux: EIO)" },
  { value: "aborted", label: "aborted" },
  { value: "capacity-exceeded", label: "capacity exceeded (ENOSPC)" },
  { value: "namespace-not-ready", label: "namespace not ready" },
  { value: "delay", label: "delay only" },
  { value: "hang", label: "hang (until abort or reset)" },
  { value: "hang-refuse-abort", label: "hang, refusing abort (until reset)" },
];
const TRACE_LINES = 40;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

const number = (id: string, title: string, width: string) => {
  const i = el("input", { id, type: "number", title, placeholder: "any" });
  i.style.width = width;
  return i;
};

/** A number input's value, or undefined when empty. */
const value = (i: HTMLInputElement) => (i.value.trim() === "" ? undefined : Number(i.value));

export class FaultsPanel {
  private readonly op = el("select", { id: "fault-op", title: "which commands" }, ...OPS.map((o) => el("option", { value: o, textContent: o })));
  private readonly effect = el("select", { id: "fault-effect", title: "what happens to them" }, ...EFFECTS.map((e) => el("option", { value: e.value, textContent: e.label })));
  private readonly nsid = number("fault-nsid", "only this namespace (empty: any)", "4em");
  private readonly lbaStart = number("fault-lba", "first block of the range (empty: any block)", "7em");
  private readonly lbaCount = number("fault-blocks", "blocks in the range", "5em");
  private readonly delay = number("fault-delay", "extra latency in milliseconds", "5em");
  private readonly count = number("fault-count", "fire at most this many times (empty: unlimited)", "4em");
  private readonly probability = number("fault-probability", "chance per matching command, 0..1 (empty: 1)", "4em");
  private readonly seed = number("fault-seed", "random seed for the probability (empty: the fault's id)", "5em");
  private readonly inject = el("button", { id: "fault-inject", type: "button", className: "small", textContent: "Inject" });
  private readonly clearAll = el("button", { id: "fault-clear-all", type: "button", className: "small", textContent: "Clear all" });
  private readonly message = el("span", { id: "fault-message", className: "hint" });
  private readonly list = el("tbody", { id: "fault-list" });
  private readonly onlyInjected = el("input", { id: "trace-only-faults", type: "checkbox", title: "show only commands a fault hit" });
  private readonly trace = el("pre", { id: "command-trace" });

  constructor(private readonly nvme: () => NvmeV86 | undefined) {}

  /** Puts the panel on the page after `anchor`, wires it and refreshes it every second. */
  start(anchor: Element): void {
    this.probability.step = "0.1";
    this.message.setAttribute("aria-live", "polite");
    Object.assign(this.trace.style, { maxHeight: "16em", overflow: "auto", margin: "0.5em 0 0", font: "12px/1.35 var(--mono, monospace)" });
    const label = (text: string, ...inputs: HTMLElement[]) => el("label", {}, `${text} `, ...inputs);
    const section = el("details", { id: "faults-panel", className: "panel ns-panel" },
      el("summary", {}, el("h2", {}, "Fault injection ", el("span", { className: "hint", textContent: "make the disk fail: the guest sees I/O errors, slow I/O, timeouts its driver recovers from" }))),
      el("div", { className: "ns-actions" },
        label("commands", this.op), label("NSID", this.nsid), label("blocks from", this.lbaStart), label("count", this.lbaCount),
        label("effect", this.effect), label("delay ms", this.delay), label("times", this.count), label("probability", this.probability),
        label("seed", this.seed), this.inject, this.clearAll, this.message),
      el("table", { className: "ns-table" },
        el("thead", {}, el("tr", {}, ...["Fault", "What", "Fired", ""].map((h) => el("th", { textContent: h })))), this.list),
      el("h2", {}, "Command trace ", el("span", { className: "hint", textContent: `the last ${TRACE_LINES} commands the controller completed, newest last` }),
        " ", el("label", { className: "hint" }, this.onlyInjected, " only those a fault hit")),
      this.trace,
    );
    anchor.after(section);
    this.inject.addEventListener("click", () => this.add());
    this.clearAll.addEventListener("click", () => this.clear());
    this.list.addEventListener("click", (ev) => {
      const id = Number((ev.target as HTMLElement).dataset.clearFault);
      if (id) this.clear(id);
    });
    this.onlyInjected.addEventListener("change", () => this.show());
    setInterval(() => this.show(), 1000);
  }

  /** The spec the controls describe. */
  spec(): FaultSpec {
    const effect = this.effect.value;
    const hang = effect === "hang" || effect === "hang-refuse-abort";
    const start = value(this.lbaStart);
    return {
      op: this.op.value as FaultOp,
      nsid: value(this.nsid),
      lba: start === undefined ? undefined : [start, value(this.lbaCount) ?? 1],
      status: effect === "delay" || hang ? undefined : (effect as FaultStatus),
      delayMs: hang ? undefined : value(this.delay),
      hang: hang ? true : undefined,
      refuseAbort: effect === "hang-refuse-abort" ? true : undefined,
      count: value(this.count),
      probability: value(this.probability),
      seed: value(this.seed),
    };
  }

  private add(): void {
    const nvme = this.nvme();
    if (!nvme) return this.say("no guest is running");
    try {
      const f = nvme.inject(this.spec());
      this.say(`fault ${f.id} injected`);
    } catch (e) {
      this.say(e instanceof Error ? e.message : String(e));
    }
    this.show();
  }

  private clear(id?: number): void {
    try {
      this.nvme()?.clear(id);
      this.say(id === undefined ? "every fault cleared" : `fault ${id} cleared`);
    } catch (e) {
      this.say(e instanceof Error ? e.message : String(e));
    }
    this.show();
  }

  /** Redraws the fault list and the trace. */
  show(): void {
    const nvme = this.nvme();
    this.inject.disabled = this.clearAll.disabled = !nvme;
    const rows = (nvme?.list() ?? []).map((f) => {
      const { id, fired, ...spec } = f;
      const clear = el("button", { type: "button", className: "small", textContent: "Clear" });
      clear.dataset.clearFault = String(id);
      return el("tr", {}, el("td", { textContent: String(id) }), el("td", { textContent: JSON.stringify(spec) }), el("td", { textContent: String(fired) }), el("td", {}, clear));
    });
    const key = rows.map((r) => r.textContent).join("|");
    if (this.list.dataset.key !== key) {
      this.list.dataset.key = key;
      this.list.replaceChildren(...rows);
    }
    const all = nvme?.trace() ?? [];
    const shown = (this.onlyInjected.checked ? all.filter((e) => e.injected) : all).slice(-TRACE_LINES);
    const text = shown.length ? formatTrace(shown) : nvme ? "(nothing yet: the trace records from the first fault injected)" : "";
    if (this.trace.textContent !== text) this.trace.textContent = text;
  }

  private say(text: string): void {
    this.message.textContent = text;
  }
}

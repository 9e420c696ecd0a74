// The page's elements, looked up once by id (index.html): a missing one fails at load, not later.

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page: no #${id}`);
  return e as T;
}

export const ui = {
  status: $("status"),
  led: $("disk-led"),
  imageName: $("image-name"),
  bootTime: $("boot-time"),
  bootMode: $<HTMLAnchorElement>("boot-mode"),
  notice: $("notice"),
  progress: $("progress"),
  error: $("error"),
  errorText: $("error-text"),
  screen: $("screen"),
  retry: $<HTMLButtonElement>("retry"),
  // disk controls
  diskForm: $<HTMLFormElement>("disk-form"),
  sourceDefault: $<HTMLInputElement>("source-default"),
  sourceUrl: $<HTMLInputElement>("source-url"),
  sourceFile: $<HTMLInputElement>("source-file"),
  url: $<HTMLInputElement>("image-url"),
  picker: $<HTMLInputElement>("image-file"),
  fileName: $("file-name"),
  readLazy: $<HTMLInputElement>("read-lazy"),
  readDownload: $<HTMLInputElement>("read-download"),
  persistent: $<HTMLInputElement>("disk-persistent"),
  copy: $<HTMLInputElement>("disk-copy"),
  boot: $<HTMLButtonElement>("disk-boot"),
  reset: $<HTMLButtonElement>("disk-reset"),
  export: $<HTMLButtonElement>("disk-export"),
  pending: $("disk-pending"),
  diskSource: $("disk-source-text"),
  diskDurability: $("disk-durability"),
  diskDetail: $("disk-detail"),
  // namespaces
  nsFile: $<HTMLInputElement>("ns-file"),
  nsFileButton: $("ns-file-button"),
  nsBlankMib: $<HTMLInputElement>("ns-blank-mib"),
  nsAddBlank: $<HTMLButtonElement>("ns-add-blank"),
  nsMessage: $("ns-message"),
  nsList: $("ns-list"),
  // device switches
  policyAwake: $<HTMLInputElement>("policy-awake"),
  policyEager: $<HTMLInputElement>("policy-eager"),
  coalescingOff: $<HTMLInputElement>("coalescing-off"),
  coalescingOn: $<HTMLInputElement>("coalescing-on"),
  workload: $<HTMLSelectElement>("workload"),
  workloadRun: $<HTMLButtonElement>("workload-run"),
  workloadStop: $<HTMLButtonElement>("workload-stop"),
  // panels that own their elements (console.ts, stats.ts)
  serial: {
    output: $("serial-output"),
    input: $<HTMLInputElement>("serial-input"),
    form: $<HTMLFormElement>("serial-form"),
    interrupt: $<HTMLButtonElement>("serial-ctrlc"),
  },
  stats: { cards: $("stats-cards"), charts: $("stats-charts"), table: $("stats-table") },
};

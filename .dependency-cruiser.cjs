// Every room only looks down (README, Architecture). From the bottom:
//   src/spec/, src/backends/, src/pci/    definitions and disks; they import nothing of ours above
//   src/rng.ts                            a seeded generator; imports nothing of ours
//   asm/                                  the hot path (AssemblyScript); asm/layout.ts is known
//                                         to asm/, src/hotpath.ts and src/hotpath-state.ts only
//   src/hotpath.ts, hotpath-state.ts,     the wrapper around the wasm module
//   dma.ts, command.ts
//   src/state/                            the device's state and the context handlers are given
//   src/admin/, src/io/                   command handlers, side by side: neither imports the other
//   src/controller/                       registers, dispatch, polling, snapshots, NvmeController
//   src/v86/                              the v86 adapter
//   src/index.ts                          the public surface
//   src/app/, src/node/, src/playwright/, src/guest/   entries: the public surface only
// Tests, benchmarks and scripts may reach any room (but not the wasm layout).

const WRAPPER = "^src/(hotpath|hotpath-module|hotpath-state|dma|command)\\.ts$";
const ENTRIES = "^src/(node|playwright|guest)/";
const RNG = "^src/rng\\.ts$";

/** A rule: files under `from` may import, of our sources, only those matching `allowed`. */
function onlyDown(name, from, allowed, comment) {
  return { name, comment, severity: "error", from: { path: from }, to: { path: "^(src|asm)/", pathNot: allowed } };
}

module.exports = {
  forbidden: [
    { name: "no-circular", comment: "Import cycles tie rooms together.", severity: "error", from: {}, to: { circular: true } },
    {
      name: "wasm-layout-boundary",
      comment: "The state region layout of the hot path is known to asm/, src/hotpath.ts and src/hotpath-state.ts only.",
      severity: "error",
      from: { pathNot: "^(asm/|src/hotpath(-state)?\\.ts$)" },
      to: { path: "^asm/layout\\.ts$" },
    },
    onlyDown("spec-at-bottom", "^src/spec/", "^src/spec/", "NVMe definitions carry no behaviour and import nothing above them."),
    onlyDown("backends-at-bottom", "^src/backends/", "^src/backends/", "Disks know nothing of NVMe."),
    onlyDown("pci-at-bottom", "^src/pci/", "^src/(pci|spec)/", "The PCI function's config space is a definition."),
    onlyDown("rng-at-bottom", RNG, RNG, "The seeded generator is a leaf (the crash workload's page imports it too)."),
    onlyDown("asm-imports-spec", "^asm/", "^(asm|src/spec)/", "The hot path shares plain constants from src/spec/ only."),
    onlyDown("wrapper-over-asm", WRAPPER, `${WRAPPER}|^src/spec/|^asm/layout\\.ts$`, "The wasm wrapper sits on the module and the spec."),
    onlyDown("state-below-handlers", "^src/state/", `^src/(state|spec|backends)/|${WRAPPER}|${RNG}`, "Device state never imports handlers or the controller."),
    onlyDown("handlers-below-controller", "^src/(admin|io)/", `^src/(admin|io|state|spec|backends)/|${WRAPPER}|${RNG}`, "Handlers get a context, never the controller."),
    {
      name: "admin-beside-io",
      comment: "Admin and I/O handlers share only what lies below both (src/state/).",
      severity: "error",
      from: { path: "^src/(admin|io)/" },
      to: { path: "^src/(admin|io)/", pathNot: "^src/$1/" },
    },
    onlyDown("controller-below-adapter", "^src/controller/", `^src/(controller|admin|io|state|spec|backends)/|${WRAPPER}|${RNG}`, "The controller knows no emulator."),
    onlyDown("adapter-below-api", "^src/v86/", `^src/(v86|controller|state|spec|backends|pci)/`, "The adapter drives the controller as its users do."),
    onlyDown("index-below-entries", "^src/index\\.ts$", `^src/(v86|controller|state|spec|backends|pci)/|${WRAPPER}`, "The public surface exports what is below it."),
    onlyDown("page-uses-public-api", "^src/app/", "^src/(index\\.ts$|app/)", "The page uses the public API only."),
    onlyDown("entries-use-public-api", ENTRIES, `^src/index\\.ts$|${ENTRIES}`, "Entry points use the public API (and each other) only."),
    {
      name: "page-packages",
      comment: "Besides the public API the page uses v86 and uPlot (and vite's client types for its asset imports).",
      severity: "error",
      from: { path: "^src/app/" },
      to: { dependencyTypes: ["npm", "npm-dev", "npm-optional", "npm-peer", "npm-no-pkg", "npm-unknown"], pathNot: "^node_modules/(v86|uplot)/|^node_modules/vite/client\\.d\\.ts$" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(build|dist|public)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"] },
  },
};

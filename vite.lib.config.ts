// The library build (`npm run build`): ES modules in dist/, one flat file per entry, shared code in
// flat chunks beside them, so that every file finds the ones it refers to as "./name".
//
// Two files are found at run time relative to the code: the hot path's wasm and the OPFS worker.
// The package keeps both as plain `new URL("./file", import.meta.url)` — the form that the
// application's bundler copies (and bundles, for `new Worker(...)`) and that Node resolves to a
// file. Vite's library mode would instead inline the wasm as base64 and hide the worker URL from
// other bundlers, so the `beside` plugin keeps these references verbatim and emits the files.
import { readFileSync } from "node:fs";
import MagicString from "magic-string";
import { defineConfig, type Plugin } from "vite";
import dts from "vite-plugin-dts";

const ENTRIES: Record<string, string> = {
  index: "src/index.ts",
  node: "src/node/index.ts",
  playwright: "src/playwright/index.ts",
  "playwright-runtime": "src/playwright/runtime.ts",
  "opfs-worker": "src/backends/opfs-worker.ts",
};

/** `new URL(from, import.meta.url)` in `module` becomes `new URL(to, import.meta.url)` in dist/. */
const BESIDE = [
  { module: "src/hotpath-module.ts", from: "../build/hotpath.wasm", to: "./hotpath.wasm", file: "build/hotpath.wasm" },
  { module: "src/backends/disk-worker.ts", from: "./opfs-worker.ts", to: "./opfs-worker.js" },
];

const IGNORE = "/* @vite-ignore */ ";
const MARKED = /new URL\(\s*\/\* @vite-ignore \*\/\s*("\.\/[^"]+")\s*,\s*import\.meta\.url\s*\)/g;

function beside(): Plugin {
  return {
    name: "v86-nvme:beside",
    enforce: "pre",
    transform(code, id) {
      const refs = BESIDE.filter((b) => id.endsWith(b.module));
      if (refs.length === 0) return null;
      const s = new MagicString(code);
      for (const b of refs) {
        const ref = `new URL("${b.from}", import.meta.url)`;
        if (!code.includes(ref)) this.error(`${b.module} no longer contains ${ref}: update vite.lib.config.ts`);
        // Marked so that vite's own asset and worker handling leaves it alone; unmarked again below.
        s.replaceAll(ref, `new URL(${IGNORE}"${b.to}", import.meta.url)`);
      }
      return { code: s.toString(), map: s.generateMap({ hires: "boundary" }) };
    },
    renderChunk(code) {
      const s = new MagicString(code).replace(MARKED, "new URL($1, import.meta.url)");
      return s.hasChanged() ? { code: s.toString(), map: s.generateMap({ hires: "boundary" }) } : null;
    },
    generateBundle() {
      for (const b of BESIDE) {
        if (b.file) this.emitFile({ type: "asset", fileName: b.to.slice(2), source: readFileSync(b.file) });
      }
    },
  };
}

/** .d.ts files under dist/types/, mirroring src/, with imports that name the emitted .js files. */
function declarations(): Plugin {
  return dts({
    tsconfigPath: "tsconfig.build.json",
    entryRoot: "src",
    outDirs: "dist/types",
    beforeWriteFile: (filePath, content) => ({
      filePath,
      content: content.replace(/((?:from|import)\s*\(?\s*)(["'])(\.\.?\/[^"']+)\.ts\2/g, "$1$2$3.js$2"),
    }),
  }) as Plugin;
}

export default defineConfig({
  publicDir: false,
  plugins: [beside(), declarations()],
  build: {
    target: "es2022",
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
    minify: false,
    lib: { entry: ENTRIES, formats: ["es"] },
    rolldownOptions: {
      external: [/^node:/, "v86", "@playwright/test", "playwright", /^playwright\//],
      output: {
        entryFileNames: "[name].js",
        chunkFileNames: "[name]-[hash].js",
      },
    },
  },
});

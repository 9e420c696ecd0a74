// zstd compression of state files under Node (Node 20 has no zstd of its own). Decompression is
// fzstd's, in the environment-neutral state-file module, so pages need no wasm for it.

import { compress, init } from "@bokuweb/zstd-wasm";

let ready: Promise<void> | undefined;

/** A state file's container as one zstd frame. */
export async function compressState(container: Uint8Array, level: number): Promise<Uint8Array> {
  ready ??= init();
  await ready;
  return compress(container, level);
}

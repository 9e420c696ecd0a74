// The saved state's download with its CRC taken piece by piece as it arrives (ReceivedCrc), not
// over 40 MB after it: in the download worker (state-download.ts), or on the page when that worker
// cannot start.

import { ReceivedCrc } from "../index.ts";
import { fetchWithProgress, type OnProgress } from "./loader.ts";

/** The state's bytes (decompressed when the server sent Content-Encoding: zstd) and their ReceivedCrc. */
export async function fetchState(url: string, decodedSize: number | undefined, onProgress: OnProgress): Promise<{ bytes: ArrayBuffer; crc: number }> {
  const crc = new ReceivedCrc();
  const bytes = await fetchWithProgress(url, onProgress, { decodedSize, onChunk: (chunk) => crc.update(chunk) });
  return { bytes, crc: crc.value };
}

// The in-memory backend against the shared contract.
import { MemoryBackend } from "../../src/backends/memory.ts";
import { conformance, patternBytes } from "./conformance.ts";

conformance("memory", async (size) => ({
  backend: MemoryBackend.fromBuffer(patternBytes(0, size)),
  patterned: true,
  chunk: 64 * 1024,
  volatileWriteCache: false,
}));

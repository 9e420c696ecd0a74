// The interface every disk behind a namespace implements. Offsets and lengths are bytes, always
// multiples of the namespace's logical block size. Data at hand is served synchronously (the
// emulator gets no other chance to run the device until its next timer hook or event-loop turn);
// only a true miss goes asynchronous.

/** What a copy-on-write overlay or an export needs from a disk it only reads. */
export interface ReadSource {
  readonly byteLength: number;
  /** Fills `dst` from `offset` now and returns true, or returns false when read() must fetch. */
  tryRead(offset: number, dst: Uint8Array): boolean;
  /** Resolves with a fresh array of `length` bytes from `offset` (the caller may keep or modify it). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

export interface BlockBackend {
  /** Size in bytes. */
  readonly byteLength: number;
  /** True when completed writes may sit in a volatile cache that only flush() makes durable. */
  readonly volatileWriteCache: boolean;
  /** True when reads of deallocated (discarded) ranges return zeros. */
  readonly discardZeroes: boolean;
  /** Fills `dst` from `offset` now and returns true, or returns false when the bytes must be fetched with read(). */
  tryRead(offset: number, dst: Uint8Array): boolean;
  /** Resolves with `length` bytes from `offset`. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Writes `src` at `offset`. `src` is only valid during the call (it views guest RAM): an
   * asynchronous implementation copies it first. With `fua` the data is durable on completion.
   */
  write(offset: number, src: Uint8Array, fua: boolean): void | Promise<void>;
  /** Makes every completed write durable. */
  flush(): void | Promise<void>;
  /** Deallocates a range; later reads return zeros when discardZeroes is true. */
  discard(offset: number, length: number): void | Promise<void>;
  /** Writes zeros over a range. */
  writeZeroes(offset: number, length: number): void | Promise<void>;
}

/** Raised by a backend for a failure the guest should see as a media error rather than a crash. */
export class BackendError extends Error {
  constructor(message: string, readonly kind: "read" | "write" | "capacity" = "read") {
    super(message);
  }
}

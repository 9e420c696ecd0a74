// Namespace 1 from the `image` option: bytes, held in memory, or a Blob (a File in a page, Node's
// fs.openAsBlob(path)) read as the guest reads it. A resumed guest reads a few MiB of its image
// in its first minutes; reading all of a 200 MB image first would be most of a resume.

import { CowBackend, FileBackend, imageIdentity, imageIdentityOf, MemoryBackend, type BlobLike } from "../index.ts";
import { bytesOf } from "./v86-setup.ts";

/** A Blob's chunks stay cached up to this much (the guest's reads then complete at once). */
const BLOB_CACHE_BYTES = 256 << 20;

export interface ImageDisk {
  disk: CowBackend;
  imageBytes: number;
  imageId: string;
  /** The whole image (for v86's own IDE disk): the bytes, or the Blob read once. */
  whole(): Promise<Uint8Array>;
}

function isBlobLike(v: unknown): v is BlobLike & { arrayBuffer(): Promise<ArrayBuffer> } {
  return typeof v === "object" && v !== null && typeof (v as BlobLike).size === "number" && typeof (v as BlobLike).slice === "function" && typeof (v as { arrayBuffer?: unknown }).arrayBuffer === "function";
}

export async function openImage(image: unknown, imageId: string | undefined): Promise<ImageDisk> {
  const size = isBlobLike(image) ? image.size : bytesOf(image as Uint8Array, "image").byteLength;
  if (size === 0 || size % 512 !== 0) {
    throw new RangeError(`bootGuest: the image is ${size} bytes, not a whole number of 512-byte sectors`);
  }
  if (isBlobLike(image)) {
    const blob = image;
    const read = async (start: number, end: number): Promise<Uint8Array> => new Uint8Array(await blob.slice(start, end).arrayBuffer());
    return {
      disk: new FileBackend(blob, { cacheBytes: BLOB_CACHE_BYTES }),
      imageBytes: size,
      imageId: imageId ?? (await imageIdentityOf(size, read)),
      whole: () => read(0, size),
    };
  }
  const bytes = bytesOf(image as Uint8Array, "image");
  return {
    disk: new CowBackend(MemoryBackend.fromBuffer(bytes)),
    imageBytes: size,
    imageId: imageId ?? imageIdentity(bytes),
    whole: async () => bytes,
  };
}

// Snapshots of small state objects (features, health): their own number and boolean fields, by
// name, so adding a field never shifts another (unlike positional arrays), and a restore takes
// only fields that exist with the same type.

export type PlainFields = Record<string, number | boolean>;

export function plainFields(o: object): PlainFields {
  const out: PlainFields = {};
  for (const [k, v] of Object.entries(o)) if (typeof v === "number" || typeof v === "boolean") out[k] = v;
  return out;
}

export function assignPlainFields(o: object, saved: unknown): void {
  if (!saved || typeof saved !== "object") return;
  const target = o as Record<string, unknown>;
  for (const [k, v] of Object.entries(saved)) {
    if (k in target && typeof target[k] === typeof v && (typeof v === "number" || typeof v === "boolean")) target[k] = v;
  }
}

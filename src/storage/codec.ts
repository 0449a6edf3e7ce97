import { Packr } from 'msgpackr';

/**
 * The on-disk encoding. Plain maps (no msgpackr records) so files do not depend on a shared
 * structure table; objects and Uint8Array round-trip (binaries decode as Buffer).
 */
const packr = new Packr({ useRecords: false });

export function encode(value: unknown): Buffer {
  return packr.pack(value);
}

/** Decodes exactly one value spanning the whole buffer; throws on any malformation. */
export function decode(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** UUIDs as 16 raw bytes, the form message ids take inside shared-memory records. */

export const UUID_BYTES = 16;

export function uuidToBytes(
  uuid: string,
  out: Uint8Array = new Uint8Array(UUID_BYTES),
  at = 0,
): Uint8Array {
  const hex = uuid.replaceAll('-', '');
  if (hex.length !== 32) throw new TypeError(`not a UUID: ${uuid}`);
  for (let i = 0; i < UUID_BYTES; i++) {
    out[at + i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  }
  return out;
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

export function bytesToUuid(bytes: Uint8Array, at = 0): string {
  let s = '';
  for (let i = 0; i < UUID_BYTES; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += '-';
    s += HEX[bytes[at + i]!];
  }
  return s;
}

export function uuidBytesEqual(a: Uint8Array, aAt: number, b: Uint8Array, bAt: number): boolean {
  for (let i = 0; i < UUID_BYTES; i++) if (a[aAt + i] !== b[bAt + i]) return false;
  return true;
}

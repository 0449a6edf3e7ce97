/**
 * Block size classes of the shared-memory arena: four classes per power of two
 * (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, …), so a block wastes at most 25% of its
 * size (on average about 11%) while freed blocks of a class are reused exactly.
 * Sizes are in bytes and include the 8-byte block header.
 */
export const MIN_BLOCK_BYTES = 32;
export const MAX_BLOCK_BYTES = 2 ** 31;

function buildClasses(): number[] {
  const sizes: number[] = [];
  for (let base = MIN_BLOCK_BYTES; base < MAX_BLOCK_BYTES; base *= 2) {
    for (let step = 0; step < 4; step++) sizes.push(base + (base / 4) * step);
  }
  sizes.push(MAX_BLOCK_BYTES);
  return sizes;
}

export const CLASS_BYTES: readonly number[] = buildClasses();
export const CLASS_COUNT = CLASS_BYTES.length;

/** The smallest class whose blocks hold `bytes` (header included). */
export function classFor(bytes: number): number {
  if (bytes <= MIN_BLOCK_BYTES) return 0;
  if (bytes > MAX_BLOCK_BYTES) throw new RangeError(`block of ${bytes} bytes is too large`);
  const exponent = Math.floor(Math.log2(bytes - 1)); // base = 2^exponent < bytes
  const base = 2 ** exponent;
  const step = Math.ceil((bytes - base) / (base / 4)); // 1..4
  const index = (exponent - Math.log2(MIN_BLOCK_BYTES)) * 4 + step;
  return index;
}

/**
 * Deterministic randomness for the simulator: a small PRNG (mulberry32) and a string hash (cyrb53, folded to 32
 * bits) to derive independent streams from a seed and a purpose, so that user 17 of seed 4 is the same user
 * however many users the tenant has and in whatever order things are asked for.
 */

// Builtins cached in module scope: under jest's vm context every global lookup (`Math`) is slow, and these run
// hundreds of thousands of times when a large tenant is made.
const imul = Math.imul;
const floor = Math.floor;

/** A deterministic source of numbers in [0, 1). */
export type Random = () => number;

/** Makes a mulberry32 generator: fast, 32-bit state, plenty for test data (not for cryptography). */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Hashes the parts into a 32-bit seed (two multiply-xorshift lanes in the style of cyrb53), so each
 * (seed, purpose, index) gets its own stream. Numbers are mixed as integers (both 32-bit halves), strings by
 * UTF-16 code unit, each part closed by a separator so `('ab', 'c')` and `('a', 'bc')` differ.
 */
export function hashSeed(...parts: Array<number | string>): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  const mix = (value: number): void => {
    h1 = imul(h1 ^ value, 2654435761);
    h2 = imul(h2 ^ value, 1597334677);
  };
  for (const part of parts) {
    if (typeof part === 'number') {
      mix(part | 0);
      mix(floor(part / 4294967296) | 0);
    } else {
      for (let i = 0; i < part.length; i++) mix(part.charCodeAt(i));
    }
    mix(0x1f);
  }
  h1 = imul(h1 ^ (h1 >>> 16), 2246822507) ^ imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = imul(h2 ^ (h2 >>> 16), 2246822507) ^ imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h1 ^ h2) >>> 0;
}

/** Draws an integer in [min, max], both included. */
export function randomInt(random: Random, min: number, max: number): number {
  return min + floor(random() * (max - min + 1));
}

/** Draws one element of a non-empty list. */
export function pick<T>(random: Random, items: readonly [T, ...T[]]): T {
  return items[floor(random() * items.length)] ?? items[0];
}

/** Draws `length` characters from `alphabet`. */
export function randomChars(random: Random, alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet.charAt(floor(random() * alphabet.length));
  return out;
}

const HEX = '0123456789abcdef';

/** Draws a version-4-shaped GUID (lower case), as Entra ID and Graph print them. */
export function randomGuid(random: Random): string {
  let out = '';
  for (let i = 0; i < 32; i++) {
    if (i === 8 || i === 12 || i === 16 || i === 20) out += '-';
    if (i === 12) out += '4';
    else if (i === 16) out += '89ab'.charAt(floor(random() * 4));
    else out += HEX.charAt(floor(random() * 16));
  }
  return out;
}

/**
 * `guid` with its last 8 hex digits mixed with a bijection of `index`, so the GUIDs of different indexes never
 * repeat even where their streams do: a stream's seed has 32 bits, so among 50,000 users two share one about once in
 * four tenants. Equal results need equal first 24 digits (the same stream, as good as certainly) and then equal
 * indexes.
 */
export function distinctGuid(guid: string, index: number): string {
  let mixed = imul(index ^ (index >>> 16), 0x45d9f3b);
  mixed = imul(mixed ^ (mixed >>> 16), 0x45d9f3b);
  mixed ^= mixed >>> 16;
  const last = (Number.parseInt(guid.slice(28), 16) ^ mixed) >>> 0;
  return guid.slice(0, 28) + last.toString(16).padStart(8, '0');
}

/** A GUID that depends only on the parts (hashed): the same parts always give the same GUID. */
export function derivedGuid(...parts: Array<number | string>): string {
  return randomGuid(createRandom(hashSeed(...parts)));
}

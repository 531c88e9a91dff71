import type { Random } from './seeded-random';
import { pick } from './seeded-random';

/**
 * Names for generated drive items. About two thirds are awkward on purpose (accents, combining marks, CJK,
 * right-to-left scripts, emoji and ZWJ sequences, quotes, `#%&`, very long names), because those are what break
 * encoders, table keys and terminals. Every name is legal in OneDrive: none of `" * : < > ? / \ |`, no leading or
 * trailing space or dot, and each one carries its number, so names are unique within a user's root.
 */
type Namer = (n: number) => string;

const BASE_NAMES: readonly [Namer, ...Namer[]] = [
  (n) => `Report ${n}`,
  (n) => `Budget ${n} (final)`,
  (n) => `Meeting notes ${n}`,
  (n) => `Café crème ${n}`,
  (n) => `Cafe\u0301 decomposed ${n}`,
  (n) => `会议记录 ${n}`,
  (n) => `Ελληνικά αρχεία ${n}`,
  (n) => `דוח רבעוני ${n}`,
  (n) => `تقرير سنوي ${n}`,
  (n) => `Party 🎉 photos ${n}`,
  (n) => `Family 👨‍👩‍👧 ${n}`,
  (n) => `O'Brien’s “draft” ${n}`,
  (n) => `R&D #${n} at 100% done`,
  (n) =>
    `${'Quarterly planning notes and minutes of the steering committee, '.repeat(3)}revised and annotated ${n}`,
  (n) => `Résumé – Zoë Ångström ${n}`,
  (n) => `Ünïcödé ñame ${n} [copy] {old} ~tmp`,
];

interface FileType {
  ext: string;
  mimeType: string;
}

const FILE_TYPES: readonly [FileType, ...FileType[]] = [
  { ext: '.docx', mimeType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' },
  { ext: '.xlsx', mimeType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' },
  { ext: '.pptx', mimeType: 'application/vnd.openxmlformats-officedocument.presentationml.presentation' },
  { ext: '.pdf', mimeType: 'application/pdf' },
  { ext: '.txt', mimeType: 'text/plain' },
  { ext: '.jpg', mimeType: 'image/jpeg' },
  { ext: '.png', mimeType: 'image/png' },
  { ext: '.zip', mimeType: 'application/x-zip-compressed' },
];

/**
 * Draws the name (and, for a file, the MIME type and extension) of item number `n` (1-based) of a user's root;
 * `base` is the name without the extension.
 */
export function driveItemName(
  random: Random,
  n: number,
  isFolder: boolean,
): { name: string; base: string; ext?: string; mimeType?: string } {
  const base = pick(random, BASE_NAMES)(n);
  if (isFolder) return { name: base, base };
  const type = pick(random, FILE_TYPES);
  return { name: `${base}${type.ext}`, base, ext: type.ext, mimeType: type.mimeType };
}

/** OneDrive's longest name (its limit is on the whole decoded path; the simulator has roots only). */
export const MAX_NAME_LENGTH = 400;

/**
 * Words of several scripts for 400-character names, all in the Basic Multilingual Plane so that a name's length in
 * UTF-16 code units (JavaScript's `length`) equals its length in characters.
 */
const LONG_NAME_WORDS: readonly [string, ...string[]] = [
  'Quarterly',
  'planning',
  'Café',
  'crème',
  'Zoë',
  'Ångström',
  'Résumé',
  'Ünïcödé',
  '会议记录',
  '年度報告',
  'Ελληνικά',
  'αρχεία',
  'דוח',
  'רבעוני',
  'تقرير',
  'سنوي',
  'Отчёт',
  'квартальный',
  'R&D',
  '#draft',
  '100%',
  "O'Brien’s",
  '“final”',
  '[copy]',
  '{old}',
  '~tmp',
  'minutes',
  'steering',
  'committee',
];

/**
 * A name of exactly 400 characters for item number `n` (1-based): words of mixed scripts, then ` n` and the
 * extension, so it is legal (no reserved character, no leading or trailing space or dot) and unique in its root.
 */
export function longItemName(random: Random, n: number, ext: string | undefined): string {
  const suffix = ` ${n}${ext ?? ''}`;
  let body = '';
  while (body.length < MAX_NAME_LENGTH) body += `${pick(random, LONG_NAME_WORDS)} `;
  body = body.slice(0, MAX_NAME_LENGTH - suffix.length);
  if (body.endsWith(' ')) body = `${body.slice(0, -1)}x`;
  return `${body}${suffix}`;
}

/** The MIME type Graph would report for a file name, by extension. */
export function mimeTypeOf(name: string): string {
  const lower = name.toLowerCase();
  return FILE_TYPES.find((type) => lower.endsWith(type.ext))?.mimeType ?? 'application/octet-stream';
}

const FIRST_NAMES = [
  'Ada',
  'Zoë',
  'José',
  'Øystein',
  'Siobhán',
  'Mei',
  'Олег',
  'Aïcha',
  'Łukasz',
  'Noa',
] as const;
const LAST_NAMES = [
  'Lovelace',
  'Ångström',
  'Núñez',
  "O'Neill",
  'Dvořák',
  'Nakamura',
  'Petrov',
  'Müller',
] as const;

/** Draws a display name (accents, apostrophes and Cyrillic included). */
export function personName(random: Random): { givenName: string; surname: string } {
  return { givenName: pick(random, FIRST_NAMES), surname: pick(random, LAST_NAMES) };
}

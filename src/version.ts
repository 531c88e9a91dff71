import { readFileSync } from 'node:fs';
import path from 'node:path';

function readVersion(): string {
  // Works from src/ (tsx) and from dist/src/ (compiled) alike: walk up to the package.json.
  for (const up of ['..', path.join('..', '..')]) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(__dirname, up, 'package.json'), 'utf8')) as {
        version?: unknown;
      };
      if (typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next level
    }
  }
  return '0.0.0';
}

/** The product version, as in package.json: it goes into every Graph request's User-Agent. */
export const VERSION = readVersion();

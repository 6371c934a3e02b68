import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The package root (where package.json and crds/ live), from source or from dist/. */
export function packageRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'crds'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`cannot find the switchyard package root above ${__dirname}`);
}

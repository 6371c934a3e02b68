import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('package.json', () => {
  test('every runtime dependency is imported by the gateway or the operator (the image ships them all)', () => {
    const code = [...sources(join(root, 'gateway')), ...sources(join(root, 'operator'))].map((f) => readFileSync(f, 'utf8')).join('\n');
    const unused = Object.keys(pkg.dependencies).filter((dep) => !code.includes(`'${dep}'`) && !code.includes(`'${dep}/`));
    expect(unused).toEqual([]);
  });

  test('main, if any, and bin point at files the build produces', () => {
    if (pkg.main !== undefined) expect(existsSync(join(root, pkg.main.replace(/^dist\//, '').replace(/\.js$/, '.ts')))).toBe(true);
    for (const bin of Object.values(pkg.bin) as string[]) expect(existsSync(join(root, bin.replace(/^dist\//, '').replace(/\.js$/, '.ts')))).toBe(true);
  });

  test('engines admits Node 20.19+ (CI) and the current LTS lines', () => {
    const ranges = (pkg.engines.node as string).split('||').map((r) => r.trim());
    expect(ranges).toEqual(expect.arrayContaining(['^20.19.0', '^22.12.0', '>=24.0.0']));
  });
});

/** Tests are TypeScript, transpiled by swc (type-checking is `npm run lint`'s job, so jest stays fast). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }] },
  testTimeout: 30000,
  // Several suites start gateways, fake upstreams and redis on loopback; two workers match CI's two cores.
  maxWorkers: 2,
};

/** Tests are TypeScript, transpiled by swc (type-checking is `npm run lint`'s job, so jest stays fast). */
const swc = (syntax) => ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax } }, module: { type: 'commonjs' } }];
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': swc('typescript'),
    // The OTLP exporters load `http` with a dynamic import(), which jest's module sandbox refuses
    // (it needs --experimental-vm-modules); swc turns it into the equivalent require().
    '/node_modules/@opentelemetry/otlp-exporter-base/.+\\.js$': swc('ecmascript'),
    // gaxios (google-auth-library) likewise import()s node-fetch and https-proxy-agent.
    '/node_modules/gaxios/.+\\.js$': swc('ecmascript'),
  },
  transformIgnorePatterns: ['/node_modules/(?!@opentelemetry/otlp-exporter-base/|gaxios/)'],
  resolver: '<rootDir>/test/helpers/jest-resolver.js',
  testTimeout: 30000,
  // Several suites start gateways, fake upstreams and redis on loopback; two workers match CI's two cores.
  maxWorkers: 2,
};

// Unit tests run on small fixtures built in test setup; integration tests need the
// real Docker engine and sample images (see README). Both run under `make test`.
const transform = { '^.+\\.ts$': ['@swc/jest'] };
module.exports = {
  testTimeout: 120000,
  projects: [
    {
      displayName: 'unit',
      transform,
      testEnvironment: 'node',
      testMatch: ['<rootDir>/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '/dist/', '<rootDir>/test/integration/'],
    },
    {
      displayName: 'integration',
      transform,
      testEnvironment: 'node',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
    },
  ],
};

/** The lab tier: end-to-end tests on real hosts (npm run test:lab sets the lab up and down). */
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  roots: ["<rootDir>/lab/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { isolatedModules: true }] },
  testTimeout: 15 * 60 * 1000,
};

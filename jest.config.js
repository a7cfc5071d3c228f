/** Unit and config tiers: fast, no lab needed. The lab tier has its own config. */
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  roots: ["<rootDir>/test", "<rootDir>/lab/engine", "<rootDir>/app", "<rootDir>/bench/load"],
  testMatch: ["**/*.test.ts"],
  // Type errors are caught by `npm run build`; isolated transpiling keeps the tier fast.
  transform: { "^.+\\.ts$": ["ts-jest", { isolatedModules: true }] },
};

/** Unit and config tiers: fast, no lab needed. The lab tier has its own config. */
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  roots: ["<rootDir>/test", "<rootDir>/lab/engine", "<rootDir>/app", "<rootDir>/bench/load"],
  testMatch: ["**/*.test.ts"],
  // Two files at once, also on a 2-core machine (Jest's default there is one): most of this
  // tier's time is spent waiting on the real Redis, Postgres, Patroni, etcd and HAProxy
  // processes it starts (test/support/ports.ts keeps each worker's ports apart).
  maxWorkers: 2,
  // Type errors are caught by `npm run build`; isolated transpiling keeps the tier fast.
  transform: { "^.+\\.ts$": ["ts-jest", { isolatedModules: true }] },
};

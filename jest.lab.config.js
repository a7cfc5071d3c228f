/** The lab tier: end-to-end tests on real hosts (npm run test:lab sets the lab up and down). */
const base = require("./jest.config");

module.exports = {
  ...base,
  roots: ["<rootDir>/lab/test"],
  // One lab, one test at a time.
  maxWorkers: 1,
  // A fixed order, so that the full-stack files share one deploy.
  testSequencer: "<rootDir>/lab/test/sequencer.js",
  testTimeout: 15 * 60 * 1000,
};

/**
 * The lab files' order, fixed so that the full-stack files share one deploy. Jest's default
 * order (slowest first from its cache, else largest file first) differs between a warm machine
 * and a clean CI checkout. security.test.ts deploys the full stack from bare hosts (it samples
 * every process list while the deploy runs); monitoring, edge and data then reuse it
 * (`sharedBase` in lab/control.ts checks it first), each leaving it healthy. Monitoring goes
 * before the files whose faults fire alerts, as it asserts that a healthy stack fires none; data
 * goes last of the four, as the Patroni leader it expects (lab-w1) is on no host the others
 * kill. The files that start from bare hosts with other configs follow.
 */
const Sequencer = require("@jest/test-sequencer").default;
const path = require("node:path");

const ORDER = ["security", "monitoring", "edge", "data", "preview", "swarm", "faults"];

class LabSequencer extends Sequencer {
    sort(tests) {
        const rank = (t) => {
            const i = ORDER.indexOf(path.basename(t.path).replace(/\.test\.ts$/, ""));
            return i === -1 ? ORDER.length : i;
        };
        return [...tests].sort((a, b) => rank(a) - rank(b) || a.path.localeCompare(b.path));
    }
}

module.exports = LabSequencer;

/**
 * npm run lab:secret -- <id>: a generated password of the lab stack, e.g. haproxy-stats-password
 * (what `pulumi stack output statsPassword --show-secrets` gives with the Pulumi CLI). It is
 * read from the engine's state, where it is sealed, and printed on standard output only.
 */
import { labSecret } from "./secrets";
import { parseCli } from "../support/cli";

const USAGE = "usage: npm run lab:secret -- <id>   (e.g. haproxy-stats-password, redis-password)";
const { positionals } = parseCli(USAGE, {}, true);
const id = positionals[0];
if (!id || positionals.length > 1) {
    console.error(USAGE);
    process.exit(2);
}
try {
    process.stdout.write(`${labSecret(id)}\n`);
} catch (e) {
    console.error((e as Error).message);
    process.exit(1);
}

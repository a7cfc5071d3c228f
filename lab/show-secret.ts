/**
 * npm run lab:secret -- <id>: a generated password of the lab stack, e.g. haproxy-stats-password
 * (what `pulumi stack output statsPassword --show-secrets` gives with the Pulumi CLI). It is
 * read from the engine's state, where it is sealed, and printed on standard output only.
 */
import { labSecret } from "./secrets";

const id = process.argv[2];
if (!id) {
    console.error("usage: npm run lab:secret -- <id>   (e.g. haproxy-stats-password, redis-password)");
    process.exit(2);
}
try {
    process.stdout.write(`${labSecret(id)}\n`);
} catch (e) {
    console.error((e as Error).message);
    process.exit(1);
}

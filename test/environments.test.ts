/**
 * The environments (docs/environments.md): the production example stack, Pulumi.production.yaml,
 * with the secrets its header tells a user to set, supplied as secret config with realistic
 * stand-in values. It must pass the config validation with no problem and no warning, run
 * as the real program (index.ts under mocks), pass every policy of the HA policy pack with the
 * pack's default config (not the lab's), and be what production needs. And the doc must name
 * every stack file, every stack output and only real commands.
 */
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { utils as ssh2Utils } from "ssh2";
import { CONFIG_KEYS, parseStackConfig, type RawConfig } from "../components/config";
import { NETWORK_KINDS } from "../components/common/names";
import { policies } from "../policy/policies";
import { readStackFile } from "../support/stack-file";
import { devConfig, runProgram, type RunResult } from "./support/program";
import { evaluate } from "./support/policy";
import { drifting, refusedCopies, replacedNetworks } from "./support/provider-forms";

// One run of the whole program under mocks (a few seconds), shared by the tests.
jest.setTimeout(30_000);

const ROOT = path.join(__dirname, "..");
const PRODUCTION_FILE = path.join(ROOT, "Pulumi.production.yaml");
const DOC = path.join(ROOT, "docs", "environments.md");
const SERVICE = "docker:index/service:Service";
const NETWORK = "docker:index/network:Network";

// ------------------------------------------------------------------------------------------------
// Stand-ins for the secrets, in the shapes the header's commands give
// ------------------------------------------------------------------------------------------------

/** An SSH string: length, then bytes. */
function sshString(b: Buffer | string): Buffer {
    const data = Buffer.from(b);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    return Buffer.concat([len, data]);
}

/** A fresh ed25519 key as `cat ~/.ssh/id_ed25519` prints it: OpenSSH's own format (openssh-key-v1, unencrypted). */
function opensshEd25519Key(): string {
    const { publicKey, privateKey } = crypto.generateKeyPairSync("ed25519");
    const pub = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
    const seed = Buffer.from(privateKey.export({ format: "jwk" }).d!, "base64url");
    const publicBlob = Buffer.concat([sshString("ssh-ed25519"), sshString(pub)]);
    const check = crypto.randomBytes(4);
    let secret = Buffer.concat([check, check, sshString("ssh-ed25519"), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString("deploy@swarm-ha")]);
    const padding = Buffer.from(Array.from({ length: (8 - (secret.length % 8)) % 8 }, (_, i) => i + 1));
    secret = Buffer.concat([secret, padding]);
    const count = Buffer.alloc(4);
    count.writeUInt32BE(1);
    const body = Buffer.concat([Buffer.from("openssh-key-v1\0"), sshString("none"), sshString("none"), sshString(""), count, sshString(publicBlob), sshString(secret)]);
    return `-----BEGIN OPENSSH PRIVATE KEY-----\n${body.toString("base64").match(/.{1,70}/g)!.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/** A throwaway self-signed certificate for the VIP, then its key: `cat fullchain.pem privkey.pem`. */
function selfSignedPem(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "swarm-ha-env-tls-"));
    try {
        const key = path.join(dir, "privkey.pem");
        const crt = path.join(dir, "fullchain.pem");
        const r = spawnSync(
            "openssl",
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=shop.example.com",
                "-addext", "subjectAltName=DNS:shop.example.com,IP:198.51.100.100", "-keyout", key, "-out", crt],
            { encoding: "utf8" },
        );
        if (r.error || r.status !== 0) throw new Error(`openssl could not make a test certificate (test/tools.sh installs it): ${r.error?.message ?? r.stderr}`);
        return fs.readFileSync(crt, "utf8") + fs.readFileSync(key, "utf8");
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

const SECRETS: Record<string, string> = {
    "swarm-ha:sshPrivateKey": opensshEd25519Key(),
    "swarm-ha:tlsCertificate": selfSignedPem(),
    "swarm-ha:alertSlackApiUrl": `https://hooks.slack.com/services/T0EXAMPLE/B0EXAMPLE/${crypto.randomBytes(12).toString("hex")}`,
    "swarm-ha:alertEmailPassword": crypto.randomBytes(18).toString("base64url"),
};
const SECRET_KEYS = Object.keys(SECRETS);

function productionFile(): Record<string, string> {
    return readStackFile(PRODUCTION_FILE);
}
function productionConfig(): Record<string, string> {
    return { ...productionFile(), ...SECRETS };
}
/** As the parser receives it: keys without the namespace. */
function raw(config: Record<string, string>): RawConfig {
    return Object.fromEntries(Object.entries(config).map(([k, v]) => [k.replace(/^swarm-ha:/, ""), v]));
}
function declaredNodes(): any[] {
    return JSON.parse(productionFile()["swarm-ha:nodes"]);
}

let runPromise: Promise<RunResult> | undefined;
const production = () => (runPromise ??= runProgram(productionConfig(), { secretKeys: SECRET_KEYS }));

const decoded = (r: { inputs: Record<string, any> }) => Buffer.from(r.inputs.data, "base64").toString("utf8");

// ------------------------------------------------------------------------------------------------

describe("the production example stack (Pulumi.production.yaml)", () => {
    test("the secrets' stand-ins are what the header's commands give: an OpenSSH ed25519 key, a certificate with its key", () => {
        const key = ssh2Utils.parseKey(SECRETS["swarm-ha:sshPrivateKey"]);
        expect(key instanceof Error ? key.message : key.type).toBe("ssh-ed25519");
        expect(new crypto.X509Certificate(SECRETS["swarm-ha:tlsCertificate"]).checkIP("198.51.100.100")).toBe("198.51.100.100");
    });

    test("its header lists the exact `pulumi config set --secret` command of every secret it needs, and nothing secret is in the file", () => {
        const text = fs.readFileSync(PRODUCTION_FILE, "utf8");
        const header = text.slice(0, text.indexOf("\nconfig:"));
        const set = [...header.matchAll(/^#\s+pulumi config set --secret (\w+) --stack production(?: (.*))?$/gm)];
        expect(set.map((m) => `swarm-ha:${m[1]}`).sort()).toEqual([...SECRET_KEYS].sort());
        for (const m of set) expect({ key: m[1], secrecy: CONFIG_KEYS[m[1] as keyof typeof CONFIG_KEYS]?.secret }).toEqual({ key: m[1], secrecy: expect.stringMatching(/^(always|if-set)$/) });
        // Values that hold spaces or line breaks go after `--`, quoted.
        for (const key of ["sshPrivateKey", "tlsCertificate"]) expect(set.find((m) => m[1] === key)![2]).toMatch(/^-- "\$\(cat [^)]+\)"$/);
        const file = productionFile();
        for (const k of Object.keys(file)) expect({ k, secrecy: CONFIG_KEYS[k.replace(/^swarm-ha:/, "") as keyof typeof CONFIG_KEYS]?.secret }).toEqual({ k, secrecy: "never" });
    });

    test("passes the config validation: no problem, no warning", () => {
        const parsed = parseStackConfig(raw(productionConfig()), new Set(SECRET_KEYS));
        expect(parsed.warnings).toEqual([]);
        expect(parsed.nodes).toHaveLength(8);
        // Without a secret it names each one missing or in plain text.
        expect(() => parseStackConfig(raw(productionFile()), new Set())).toThrow(/swarm-ha:sshPrivateKey: is not set/);
        expect(() => parseStackConfig(raw(productionConfig()), new Set(["swarm-ha:sshPrivateKey"]))).toThrow(/swarm-ha:tlsCertificate: is stored in plain text[\s\S]*swarm-ha:alertSlackApiUrl: is stored in plain text/);
    });

    test("runs as the real program, its secrets kept secret (no value in any plain input)", async () => {
        const r = await production();
        expect(r.resources.length).toBeGreaterThan(100);
        const leaks: string[] = [];
        for (const res of r.resources) {
            for (const [field, value] of Object.entries(res.rawInputs)) {
                if (res.secretInputs.has(field)) continue;
                const text = JSON.stringify(value);
                for (const s of Object.values(SECRETS)) if (text.includes(JSON.stringify(s).slice(1, -1))) leaks.push(`${res.name}.${field}`);
            }
        }
        expect(leaks).toEqual([]);
    });

    test("passes every policy of the HA policy pack with its default config (not policy/lab.config.json), each one applying", async () => {
        const r = await production();
        for (const p of policies) {
            const outcome = await evaluate(p, r.resources);
            expect({ policy: p.name, ...outcome }).toEqual({ policy: p.name, violations: [], notApplicable: [] });
        }
    });

    test("an odd number of managers, at least 3 (5), spread over at least 3 zones, so losing a zone leaves a Raft majority", async () => {
        const r = await production();
        const declared = /DECLARED='([^']*)'/.exec(r.byName("swarm-health").inputs.create)![1].split("\n").map((l) => l.split(" "));
        const managers = declared.filter(([, role]) => role === "manager").map(([name]) => name);
        expect(managers).toHaveLength(5);
        expect(managers.length % 2).toBe(1);
        // The zone each manager's labels give it on the swarm.
        const zoneOf = (name: string) => /(?:^|\n)zone=(\w+)(?:\n|')/.exec(r.byName(`swarm-${name}-settings`).inputs.create)?.[1];
        const byZone = new Map<string, number>();
        for (const m of managers) byZone.set(zoneOf(m)!, (byZone.get(zoneOf(m)!) ?? 0) + 1);
        expect([...byZone.keys()].sort()).toEqual(["a", "b", "c"]);
        // Losing any one zone leaves a Raft majority (3 of 5).
        for (const [, n] of byZone) expect(managers.length - n).toBeGreaterThanOrEqual(Math.floor(managers.length / 2) + 1);
        expect(r.outputs.managers).toEqual(["198.51.100.11", "198.51.100.12", "198.51.100.13", "198.51.100.14", "198.51.100.15"]);
        // Every host key pinned; the workers in the three zones too.
        expect(declaredNodes().every((n) => /^ssh-ed25519 AAAA/.test(n.hostKey))).toBe(true);
        expect(new Set(declaredNodes().filter((n) => n.swarmRole === "worker").map((n) => n.labels.zone))).toEqual(new Set(["a", "b", "c"]));
    });

    test("the app: 4 replicas (at least 3), at most 2 per node, on 3 app workers in 3 zones: a drained worker's tasks fit on the other two", async () => {
        const r = await production();
        const app = r.byName("app-service").inputs;
        expect(app.mode.replicated.replicas).toBe(4);
        expect(app.mode.replicated.replicas).toBeGreaterThanOrEqual(3);
        expect(app.taskSpec.placement.maxReplicas).toBe(2);
        expect(app.taskSpec.containerSpec.image).toMatch(/^registry\.example\.com\/shop\/app:\d+\.\d+\.\d+$/);
        const appNodes = declaredNodes().filter((n) => n.roles.includes("app"));
        expect(new Set(appNodes.map((n) => n.labels.zone)).size).toBe(3);
        expect((appNodes.length - 1) * app.taskSpec.placement.maxReplicas).toBeGreaterThanOrEqual(app.mode.replicated.replicas);
    });

    test("Postgres: synchronous replication on, a primary and two standbys in three zones; Redis refuses writes no replica has", async () => {
        const r = await production();
        const patroni = r.resources.filter((x) => x.type === SERVICE && /^postgres-.*-pg$/.test(x.name));
        expect(patroni.map((x) => x.name).sort()).toEqual(["postgres-worker-a-pg", "postgres-worker-b-pg", "postgres-worker-c-pg"]);
        const patroniYml = r.resources.find((x) => x.type === "docker:index/serviceConfig:ServiceConfig" && /patroni/.test(x.inputs.name))!;
        expect(decoded(patroniYml)).toMatch(/^\s*synchronous_mode: true$/m);
        expect(r.resources.filter((x) => x.type === SERVICE && /^redis-.*-redis$/.test(x.name))).toHaveLength(3);
        expect(decoded(r.byName("redis-redis-config"))).toMatch(/^min-replicas-to-write 1$/m);
    });

    test("TLS: HAProxy serves HTTPS on 443 with the certificate from a Docker secret; the URL is https on the VIP", async () => {
        const r = await production();
        const haproxy = r.byName("edge-manager-a-haproxy").inputs;
        expect(haproxy.endpointSpec.ports.map((p: any) => p.publishedPort)).toEqual(expect.arrayContaining([80, 443]));
        expect(haproxy.taskSpec.containerSpec.secrets.map((s: any) => s.fileName)).toContain("tls-certificate.pem");
        expect(decoded(r.byName("edge-manager-a-haproxy-config"))).toContain("crt /run/secrets/tls-certificate.pem");
        expect(r.byName("secrets-tls-certificate").secretInputs).toContain("data");
        expect(r.outputs.url).toBe("https://198.51.100.100/");
    });

    test("encrypted overlays, from a pool other than dev's; addresses in RFC 5737's 198.51.100.0/24, apart from dev's", async () => {
        const r = await production();
        const networks = r.resources.filter((x) => x.type === NETWORK);
        expect(networks).toHaveLength(NETWORK_KINDS.length);
        for (const net of networks) expect(`${net.name} ${net.inputs.driver} ${net.inputs.options?.encrypted}`).toBe(`${net.name} overlay true`);
        expect(productionFile()["swarm-ha:defaultAddrPool"]).not.toBe(devConfig()["swarm-ha:defaultAddrPool"]);
        expect(r.byName("swarm-manager-a-member").inputs.create).toContain(productionFile()["swarm-ha:defaultAddrPool"]);
        for (const n of declaredNodes()) expect(n.address).toMatch(/^198\.51\.100\.\d+$/);
        expect(productionFile()["swarm-ha:vip"]).toMatch(/^198\.51\.100\.\d+$/);
    });

    test("monitoring: Prometheus, two Alertmanagers, Grafana and cAdvisor, pinned; alerts to Slack and email with the secret credentials", async () => {
        const r = await production();
        const services = r.resources.filter((x) => x.type === SERVICE).map((x) => x.inputs.name as string);
        for (const s of ["swarm-ha-prometheus", "swarm-ha-alertmanager", "swarm-ha-grafana", "swarm-ha-cadvisor"]) expect(services).toContain(s);
        const alertmanager = r.byName("monitoring-alertmanager").inputs;
        expect([alertmanager.mode.replicated.replicas, alertmanager.taskSpec.placement]).toEqual([2, { constraints: ["node.role == manager"], maxReplicas: 1 }]);
        expect(r.byName("monitoring-grafana").inputs.taskSpec.containerSpec.image).toMatch(/^grafana\/grafana-oss:\d+\.\d+\.\d+$/);
        expect(r.byName("monitoring-cadvisor").inputs.taskSpec.containerSpec.image).toMatch(/^gcr\.io\/cadvisor\/cadvisor:v\d+\.\d+\.\d+$/);
        const am = r.byName("secrets-alertmanager-config");
        expect(am.secretInputs).toContain("data");
        const yml = decoded(am);
        for (const s of ["#ops-alerts", SECRETS["swarm-ha:alertSlackApiUrl"], "oncall@example.com", "smtp.example.com:587", SECRETS["swarm-ha:alertEmailPassword"]]) expect(yml).toContain(s);
    });

    test("is written in the released providers' forms: every service reads back as written, networks keep their options, build contexts pass Check", async () => {
        const r = await production();
        expect(drifting(r)).toEqual([]);
        expect(replacedNetworks(r)).toEqual([]);
        expect(await refusedCopies(r)).toEqual([]);
    });

    test("its stack outputs: the URLs on the VIP, the data endpoints, and the generated passwords as secrets", async () => {
        const r = await production();
        expect(r.outputs).toMatchObject({
            url: "https://198.51.100.100/",
            vip: "198.51.100.100",
            statsUrl: "http://198.51.100.100:8404/stats",
            grafanaUrl: "http://198.51.100.100:3000/",
            prometheusUrl: "http://198.51.100.100:9090/",
            alertmanagerUrl: "http://198.51.100.100:9093/",
            postgresReadWrite: expect.stringMatching(/^swarm-ha-pg-proxy:5432$/),
            redisSentinels: expect.arrayContaining([expect.stringMatching(/^swarm-ha-sentinel-manager-c:\d+$/)]),
        });
        for (const k of ["statsPassword", "grafanaAdminPassword", "postgresAppPassword", "redisPassword", "joinTokens"]) {
            expect({ k, secret: await pulumi.isSecret(r.exports[k]) }).toEqual({ k, secret: true });
        }
    });
});

describe("docs/environments.md", () => {
    const doc = fs.readFileSync(DOC, "utf8");

    test("names every stack file in the repository, and the lab's (written by npm run lab:up)", () => {
        const stackFiles = fs.readdirSync(ROOT).filter((f) => /^Pulumi\.[^.]+\.yaml$/.test(f));
        expect(stackFiles).toEqual(expect.arrayContaining(["Pulumi.dev.yaml", "Pulumi.production.yaml"]));
        for (const f of new Set([...stackFiles, "Pulumi.lab.yaml"])) expect({ f, named: doc.includes(`\`${f}\``) }).toEqual({ f, named: true });
        expect(doc).toContain("npm run lab:up");
    });

    test("lists every stack output of index.ts", async () => {
        const r = await production();
        for (const k of Object.keys(r.exports)) expect({ k, listed: doc.includes(`\`${k}\``) }).toEqual({ k, listed: true });
    });

    test("its commands are real: npm scripts of package.json, config keys to set as secrets, outputs of index.ts", async () => {
        const scripts = Object.keys(JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).scripts);
        const npmRuns = [...doc.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]);
        expect(npmRuns.length).toBeGreaterThan(0);
        for (const s of npmRuns) expect(scripts).toContain(s);
        const secretSets = [...doc.matchAll(/pulumi config set --secret (\w+)/g)].map((m) => m[1]);
        expect(new Set(secretSets)).toEqual(new Set(SECRET_KEYS.map((k) => k.replace(/^swarm-ha:/, ""))));
        const r = await production();
        // `pulumi stack output [flags] [name]`: the name, if any, must be an export.
        const outputLines = [...doc.matchAll(/^pulumi stack output\b(.*)$/gm)].map((m) => m[1].trim().split(/\s+/).filter(Boolean));
        expect(outputLines.length).toBeGreaterThan(0);
        for (const words of outputLines) {
            const names = words.filter((w, i) => !w.startsWith("-") && !["--stack", "-s"].includes(words[i - 1]));
            expect(names.length).toBeLessThanOrEqual(1);
            for (const n of names) expect(Object.keys(r.exports)).toContain(n);
        }
        expect(doc).toMatch(/^pulumi stack output --show-secrets statsPassword\b/m);
        // Every pulumi command line is one the CLI has.
        const commands = [...doc.matchAll(/^pulumi (\w+)(?: (\w+))?/gm)].map((m) => (m[1] === "stack" || m[1] === "config" ? `${m[1]} ${m[2]}` : m[1]));
        expect(commands).toEqual(expect.arrayContaining(["stack init", "config set", "preview", "up", "stack output"]));
        for (const c of commands) expect(["stack init", "stack select", "stack output", "stack rm", "config set", "config rm", "preview", "up", "refresh", "destroy"]).toContain(c);
    });
});

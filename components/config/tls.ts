/**
 * The TLS certificate's contents, read with node:crypto (OpenSSL, as HAProxy reads them): each
 * certificate block must parse, the private key must parse and be the first certificate's (HAProxy
 * serves the first as its own and refuses a key of another), and that certificate must be valid
 * now. credentials.ts first checks that the blocks are there at all; this reads what is in them.
 *
 * No message repeats the key, nor the blocks' base64. A certificate is public (HAProxy shows it
 * to every client), so its dates and names may be said.
 */
import * as crypto from "node:crypto";
import { type ConfigProblem, fullKey } from "./types";

const TLS_KEY = fullKey("tlsCertificate");
const SET_TLS = `pulumi config set --secret ${TLS_KEY} -- "$(cat fullchain.pem privkey.pem)"`;

const CERTIFICATE_BLOCKS = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
/** Unencrypted private keys in the PEM forms OpenSSL (so HAProxy) reads: PKCS#8, PKCS#1 (RSA), SEC1 (EC), DSA. */
export const PRIVATE_KEY_BLOCK = /-----BEGIN ((?:RSA |EC |DSA )?)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/;

/** The certificates (in order) and the key of a PEM whose blocks are there; `undefined` for a block that does not parse. */
function readPem(pem: string): { certificates: (crypto.X509Certificate | undefined)[]; key: crypto.KeyObject | undefined } {
    const certificates = (pem.match(CERTIFICATE_BLOCKS) ?? []).map((block) => {
        try {
            return new crypto.X509Certificate(block);
        } catch {
            return undefined;
        }
    });
    const keyBlock = PRIVATE_KEY_BLOCK.exec(pem)?.[0];
    let key: crypto.KeyObject | undefined;
    try {
        key = keyBlock === undefined ? undefined : crypto.createPrivateKey(keyBlock);
    } catch {
        key = undefined;
    }
    return { certificates, key };
}

/** `the 2nd certificate`, for pointing at a block by its place in the PEM. */
function nth(i: number): string {
    const n = i + 1;
    const suffix = n % 10 === 1 && n !== 11 ? "st" : n % 10 === 2 && n !== 12 ? "nd" : n % 10 === 3 && n !== 13 ? "rd" : "th";
    return `the ${n}${suffix} certificate`;
}

/**
 * What in `pem` (which has a certificate block and an unencrypted key block) HAProxy cannot
 * serve: a block that does not parse, a key that is not the first certificate's, a first
 * certificate that has expired or is not valid yet at `now`.
 */
export function checkTlsMaterial(pem: string, now: Date): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    const { certificates, key } = readPem(pem);
    const broken = certificates.map((c, i) => (c === undefined ? nth(i) : undefined)).filter((c) => c !== undefined);
    if (broken.length > 0) {
        problems.push({
            key: TLS_KEY,
            message:
                `has certificate block(s) whose contents do not parse as X.509 (${broken.join(", ")}; cut short, edited, or not base64?): ` +
                `copy the files again (openssl x509 -in fullchain.pem -noout shows whether they read), then: ${SET_TLS}`,
        });
    }
    if (key === undefined) {
        problems.push({
            key: TLS_KEY,
            message: `has a private key block whose contents do not parse (cut short, edited, or not base64?): copy the key file again (openssl pkey -in privkey.pem -noout shows whether it reads), then: ${SET_TLS}`,
        });
    }
    const leaf = certificates[0];
    if (leaf === undefined) return problems;
    if (key !== undefined && !leaf.checkPrivateKey(key)) {
        problems.push({
            key: TLS_KEY,
            message:
                `holds a private key that is not the first certificate's (${leaf.subject.replace(/\n/g, ", ")}): HAProxy serves the first certificate, and refuses a key of another. ` +
                `Put the server certificate first, then its chain, with its own key (the key of the same order or renewal): ${SET_TLS}`,
        });
    }
    const [from, to] = [new Date(leaf.validFrom), new Date(leaf.validTo)];
    if (to.getTime() < now.getTime()) {
        problems.push({
            key: TLS_KEY,
            message: `holds a certificate that expired on ${to.toISOString()}: every client would refuse it. Renew it (or have it reissued) and set the new one: ${SET_TLS}`,
        });
    } else if (from.getTime() > now.getTime()) {
        problems.push({
            key: TLS_KEY,
            message:
                `holds a certificate that is not valid until ${from.toISOString()}: until then every client refuses it. ` +
                `Check this machine's clock, or set the certificate it replaces until then: ${SET_TLS}`,
        });
    }
    return problems;
}

/** Host names that name the machine itself: no client reaches the edge by them. */
const LOCAL_NAME = /^(localhost|[^.]+\.localhost|localhost\.localdomain)\.?$/i;

/**
 * A warning when no name of the first certificate can be one clients reach the edge by: it
 * names only IP addresses, none of which is `edgeIps` (the VIP and the edge nodes' addresses),
 * and no host name but the machine's own (localhost). A certificate with a DNS name is not
 * warned about: the name clients use (a DNS record for the VIP) is not in config. Nothing
 * when the certificate does not read (checkTlsMaterial says so).
 */
export function warnTlsNames(pem: string, edgeIps: string[]): ConfigProblem[] {
    const leaf = readPem(pem).certificates[0];
    if (leaf === undefined) return [];
    const sans = (leaf.subjectAltName ?? "").split(/,\s*/).filter((s) => s !== "");
    const dnsNames = sans.filter((s) => s.startsWith("DNS:")).map((s) => s.slice(4));
    const ipNames = sans.filter((s) => s.startsWith("IP Address:")).map((s) => s.slice(11));
    // Without DNS names in the SAN, clients (and checkHost) fall back to the subject's CN.
    const cn = dnsNames.length === 0 ? /(?:^|\n)CN=([^\n]*)/.exec(leaf.subject)?.[1] : undefined;
    const hostNames = [...dnsNames, ...(cn !== undefined ? [cn] : [])];
    if (hostNames.some((n) => !LOCAL_NAME.test(n))) return [];
    if (edgeIps.some((ip) => leaf.checkIP(ip) !== undefined)) return [];
    const names = [...hostNames, ...ipNames];
    return [
        {
            key: TLS_KEY,
            message:
                `holds a certificate for ${names.length === 0 ? "no name at all" : names.join(", ")}, which matches none of the addresses clients reach the edge by ` +
                `(${edgeIps.length === 0 ? "no IP in config" : edgeIps.join(", ")}, or a DNS name for them): every client would refuse it as another site's. ` +
                `Get a certificate for the name clients use (its DNS name, or the VIP), and set it: ${SET_TLS}`,
        },
    ];
}

/**
 * A DNS server on loopback for tests that run a real HAProxy from a rendered file: it stands in
 * for Docker's embedded DNS (127.0.0.11), which HAProxy's `resolvers docker` asks for
 * `tasks.<service>`. It answers A queries for the names in `records`, NXDOMAIN for any other
 * name, and no records (NOERROR) for other types of a known name, as Docker's DNS does for
 * AAAA on an IPv4 overlay. RFC 1035 §4.1, the smallest subset HAProxy's resolver reads.
 */
import * as dgram from "node:dgram";

export interface TestDns {
    /** The port to write in place of 53, on 127.0.0.1. */
    port: number;
    /** Name (lower case, no trailing dot) → IPv4 addresses. Change it at any time. */
    records: Map<string, string[]>;
    close(): Promise<void>;
}

const TYPE_A = 1;
const CLASS_IN = 1;

export async function startTestDns(): Promise<TestDns> {
    const records = new Map<string, string[]>();
    const socket = dgram.createSocket("udp4");
    socket.on("message", (query, peer) => {
        const answer = respond(query, records);
        if (answer) socket.send(answer, peer.port, peer.address);
    });
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    return {
        port: socket.address().port,
        records,
        close: () => new Promise((resolve) => socket.close(() => resolve())),
    };
}

function respond(query: Buffer, records: Map<string, string[]>): Buffer | undefined {
    if (query.length < 12 || query.readUInt16BE(4) !== 1) return undefined;
    // The question: length-prefixed labels up to a zero byte, then type and class.
    const labels: string[] = [];
    let at = 12;
    while (at < query.length && query[at] !== 0) {
        labels.push(query.toString("ascii", at + 1, at + 1 + query[at]));
        at += 1 + query[at];
    }
    const questionEnd = at + 5;
    if (questionEnd > query.length) return undefined;
    const type = query.readUInt16BE(at + 1);
    const addresses = records.get(labels.join(".").toLowerCase());
    const answers = addresses && type === TYPE_A ? addresses : [];

    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2); // the id
    const recursionDesired = query[2] & 0x01;
    header[2] = 0x80 | recursionDesired; // a response
    header[3] = 0x80 | (addresses ? 0 : 3); // recursion available; NXDOMAIN for an unknown name
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const records_ = answers.map((ip) => {
        const r = Buffer.alloc(16);
        r.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
        r.writeUInt16BE(TYPE_A, 2);
        r.writeUInt16BE(CLASS_IN, 4);
        r.writeUInt32BE(1, 6); // TTL 1 s
        r.writeUInt16BE(4, 10);
        ip.split(".").forEach((octet, i) => (r[12 + i] = Number(octet)));
        return r;
    });
    return Buffer.concat([header, query.subarray(12, questionEnd), ...records_]);
}

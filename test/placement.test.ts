/**
 * Where each part of the stack runs, from the nodes' roles: the program builds images and pins
 * services by it, the lab loads images by it.
 */
import { placeStack, type NodeSpec } from "../components/config";

function node(name: string, swarmRole: NodeSpec["swarmRole"], roles: NodeSpec["roles"], availability: NodeSpec["availability"] = "active"): NodeSpec {
    return { name, address: `192.0.2.${name.length}`, advertiseAddress: "192.0.2.1", swarmRole, roles, labels: {}, availability };
}

const names = (nodes: NodeSpec[]) => nodes.map((n) => n.name);

const cluster = [
    node("m1", "manager", ["edge", "monitoring"]),
    node("m2", "manager", ["edge", "redis"]),
    node("m3", "manager", ["redis", "postgres-replica"]),
    node("w1", "worker", ["app", "postgres-primary", "redis"]),
    node("w2", "worker", ["app"], "drain"),
];

test("Postgres starts on the primary's node first, then the replicas'; etcd on the active managers", () => {
    const placed = placeStack(cluster, { vip: true });
    expect(names(placed.postgres)).toEqual(["w1", "m3"]);
    expect(names(placed.etcd)).toEqual(["m1", "m2", "m3"]);
});

test("nothing is placed on a drained or paused node", () => {
    const placed = placeStack(cluster, { vip: true });
    expect(names(placed.app)).toEqual(["w1"]);
    expect(Object.values(placed.nodesByImage).flat().map((n) => n.name)).not.toContain("w2");
});

test("HAProxy is built where the edge runs, where the app runs (the Postgres proxy sits beside it) and, with monitoring, on the managers (the Docker API proxy)", () => {
    expect(names(placeStack(cluster, { vip: true, monitoring: false }).nodesByImage.haproxy)).toEqual(["m1", "m2", "w1"]);
    expect(names(placeStack(cluster, { vip: true }).nodesByImage.haproxy)).toEqual(["m1", "m2", "m3", "w1"]);
});

test("monitoring: its image on every active node, Grafana on the first active monitoring node, a Prometheus pair when two are active; nothing without it", () => {
    const placed = placeStack(cluster, { vip: true });
    expect(names(placed.nodesByImage.monitoring)).toEqual(names(cluster.filter((n) => n.availability === "active")));
    expect([placed.monitoring?.name, placed.prometheusReplicas]).toEqual(["m1", 1]);
    const withRole = (extra: string[], availability = "active") =>
        cluster.map((n) => (extra.includes(n.name) ? { ...n, roles: [...n.roles, "monitoring" as const], availability: availability as NodeSpec["availability"] } : n));
    expect(placeStack(withRole(["m2"]), { vip: true }).prometheusReplicas).toBe(2);
    expect(placeStack(withRole(["m2", "m3"]), { vip: true }).prometheusReplicas).toBe(2);
    expect(placeStack(withRole(["m2"], "drain"), { vip: true }).prometheusReplicas).toBe(1);
    const off = placeStack(cluster, { vip: true, monitoring: false });
    expect([off.monitoring, off.prometheusReplicas, off.nodesByImage.monitoring]).toEqual([undefined, 0, []]);
});

test("keepalived is built only when there is a virtual IP to move", () => {
    expect(names(placeStack(cluster, { vip: true }).nodesByImage.keepalived)).toEqual(["m1", "m2"]);
    expect(placeStack(cluster, { vip: false }).nodesByImage.keepalived).toEqual([]);
});

test("backups are kept on the first replica's node, never the primary's", () => {
    expect(placeStack(cluster, { vip: true }).backup?.name).toBe("m3");
    const noReplica = cluster.map((n) => ({ ...n, roles: n.roles.filter((r) => r !== "postgres-replica") }));
    const backup = placeStack(noReplica, { vip: true }).backup;
    expect(backup?.name).not.toBe("w1");
    expect(backup?.availability).toBe("active");
});

describe("without the data tier", () => {
    const placed = placeStack(cluster, { vip: true, dataTier: false });

    test("Redis, Postgres, etcd and the backups run nowhere, and none of their images is built; the app and the edge are placed as with it", () => {
        expect([placed.redis, placed.postgres, placed.etcd]).toEqual([[], [], []]);
        expect(placed.backup).toBeUndefined();
        const byImage = placed.nodesByImage;
        expect([byImage.redis, byImage.postgres, byImage.etcd, byImage.backup]).toEqual([[], [], [], []]);
        const withData = placeStack(cluster, { vip: true });
        expect([names(placed.app), names(placed.edge), names(byImage.app), names(byImage.keepalived)]).toEqual([
            names(withData.app),
            names(withData.edge),
            names(withData.nodesByImage.app),
            names(withData.nodesByImage.keepalived),
        ]);
    });

    test("HAProxy is built on the edge nodes and, for the Docker API proxy, the managers: there is no Postgres proxy beside the app", () => {
        expect(names(placed.nodesByImage.haproxy)).toEqual(["m1", "m2", "m3"]);
    });

    test("no node is needed for the backups", () => {
        // A single node, the Postgres primary's: with the data tier, the backups have nowhere to go.
        const lone = [node("m1", "manager", ["edge", "app", "postgres-primary"])];
        expect(() => placeStack(lone, { vip: false })).toThrow(/no active node other than the postgres-primary's/);
        expect(placeStack(lone, { vip: false, dataTier: false }).backup).toBeUndefined();
    });

    test("the data tier is placed unless it is turned off", () => {
        expect(placeStack(cluster, { vip: true, dataTier: true })).toEqual(placeStack(cluster, { vip: true }));
    });
});

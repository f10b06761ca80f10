import assert from "node:assert/strict";
import { nodeAddressing, octetsInUse, planNetwork } from "./network.ts";

describe("local cluster network plan", () => {
  it("gives the host, nodes, pods and Services addresses inside one 10.X.0.0/16", () => {
    const plan = planNetwork("a1b2c3", 123);
    assert.equal(plan.bridge, "bsbra1b2c3");
    assert.equal(plan.hostIp, "10.123.0.1");
    assert.equal(plan.serviceCidr, "10.123.254.0/24");
    assert.equal(plan.kubernetesServiceIp, "10.123.254.1");
    assert.equal(plan.clusterCidr, "10.123.0.0/16");
    const nodes = [0, 1].map((i) => nodeAddressing(plan, "a1b2c3", i, `n${i}`));
    assert.deepEqual(nodes.map((n) => [n.ip, n.podCidr, n.podGateway, n.hostVeth]), [
      ["10.123.0.10", "10.123.1.0/24", "10.123.1.1", "bsa1b2c3n0"],
      ["10.123.0.11", "10.123.2.0/24", "10.123.2.1", "bsa1b2c3n1"],
    ]);
    for (const name of [plan.bridge, ...nodes.map((n) => n.hostVeth)]) assert.ok(name.length <= 15, `${name} fits IFNAMSIZ`);
  });

  it("treats an octet as taken when any address or route of the machine touches it", () => {
    const used = octetsInUse(["192.0.2.0/24", "10.150.3.0/24", "10.200.0.7", "127.0.0.1/8", "not an address"]);
    assert.deepEqual([...used].sort((a, b) => a - b), [150, 200]);
  });

  it("treats a route wider than a /16 inside 10/8 as taking every octet", () => {
    assert.equal(octetsInUse(["10.0.0.0/8"]).size, 256);
    assert.equal(octetsInUse(["10.128.0.0/9"]).size, 256);
  });
});

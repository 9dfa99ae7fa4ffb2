import { describe, expect, it } from "vitest";
import { etcdCredentialsFromEnv, etcdTarget } from "./etcd-address.js";

describe("etcdTarget", () => {
  it("takes a user off the endpoints, decoding it as a URL's", () => {
    expect(etcdTarget(["http://app:p%40ss%3Aw@etcd-1:2379", "app:p%40ss%3Aw@etcd-2"])).toEqual({
      endpoints: ["http://etcd-1:2379", "etcd-2:2379"],
      auth: { username: "app", password: "p@ss:w" },
    });
  });

  it("uses the user given beside the addresses when they name none", () => {
    const fallback = { username: "env", password: "pw" };
    expect(etcdTarget(["etcd-1:2379"], "--registry_address", fallback).auth).toEqual(fallback);
    expect(etcdTarget(["app:pw@etcd-1:2379"], "--registry_address", fallback).auth).toEqual({
      username: "app",
      password: "pw",
    });
  });

  it("refuses endpoints naming different users, or a user without a password, without showing a password", () => {
    expect(() => etcdTarget(["app:secret1@etcd-1", "app:secret2@etcd-2"])).toThrow(
      '"app:[redacted]@etcd-1,app:[redacted]@etcd-2": its endpoints name different users or passwords',
    );
    expect(() => etcdTarget(["app@etcd-1:2379"])).toThrow(
      "give the user and the password, as user:password@etcd-1:2379",
    );
    expect(() => etcdTarget(["app:secret@etcd-1:99999"])).toThrow(/"etcd-1:99999".*past 65535/);
  });

  it("reads go-micro's ETCD_USERNAME and ETCD_PASSWORD when both are set", () => {
    expect(etcdCredentialsFromEnv({ ETCD_USERNAME: "app", ETCD_PASSWORD: "pw" })).toEqual({
      username: "app",
      password: "pw",
    });
    expect(etcdCredentialsFromEnv({ ETCD_USERNAME: "app" })).toBeUndefined();
  });
});

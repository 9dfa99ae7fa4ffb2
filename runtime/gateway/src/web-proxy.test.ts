import { describe, expect, it } from "vitest";
import { serviceFromPath } from "./web-proxy.js";

describe("serviceFromPath", () => {
  it("takes the first path segment, ignoring the rest and the query", () => {
    expect(serviceFromPath("/hello/who?x=1")).toBe("hello");
    expect(serviceFromPath("/hello")).toBe("hello");
    expect(serviceFromPath("/hello?x=/other")).toBe("hello");
    expect(serviceFromPath("/go.micro.web.hello/a/b")).toBe("go.micro.web.hello");
  });

  it("prefixes the namespace, as go-micro's path resolver", () => {
    expect(serviceFromPath("/hello/who", "go.micro.web")).toBe("go.micro.web.hello");
  });

  it("reads the path of an absolute-form request target", () => {
    expect(serviceFromPath("http://gateway:8080/hello/who?x=1")).toBe("hello");
  });

  it("decodes the segment, then rejects what cannot be a service name", () => {
    expect(serviceFromPath("/h%65llo/x")).toBe("hello");
    for (const url of ["/", "", "//hello", "/%2e%2e/x", "/../x", "/.hidden", "/a b", "/%zz/x", "/a%2Fb/c", "*"]) {
      expect(serviceFromPath(url), url).toBeUndefined();
    }
  });
});

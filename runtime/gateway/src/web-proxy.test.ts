import { describe, expect, it } from "vitest";
import { serviceFromPath, webServicesHint } from "./web-proxy.js";

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

describe("webServicesHint", () => {
  it("says when no web service is registered at all", () => {
    expect(webServicesHint([], "")).toBe("; no web service is registered so far (is it running?)");
  });

  it("names no service outside a gateway's namespace", () => {
    const names = ["admin.web.panel", "hello", "shop.web.site"];
    expect(webServicesHint(names, "shop.web", "shop.web.panel")).toBe(
      "; the web services this gateway reaches are /site/",
    );
    expect(webServicesHint(["admin.web.panel"], "shop.web", "shop.web.x")).toBe(
      "; no web service is registered so far (is it running?)",
    );
  });

  it("names the first ten services reached and how many more there are", () => {
    const names = Array.from({ length: 12 }, (_, i) => `s${String(i).padStart(2, "0")}`);
    expect(webServicesHint(names, "", "nosuch")).toBe(
      `; the web services this gateway reaches are ${names
        .slice(0, 10)
        .map((n) => `/${n}/`)
        .join(", ")}, … (2 more)`,
    );
  });
});

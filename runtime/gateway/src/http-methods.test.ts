import { describe, expect, it } from "vitest";
import { routeMethods } from "./http-methods.js";

describe("routeMethods", () => {
  it("lists the standard methods, which default routes take, whatever the route rules", () => {
    expect(routeMethods([])).toEqual(["DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"]);
  });

  it("adds the rules' custom kinds that Node receives, and no other method it knows", () => {
    expect(routeMethods(["GET", "SEARCH", "LOCK", "FETCH"])).toEqual([
      "DELETE",
      "GET",
      "HEAD",
      "LOCK",
      "PATCH",
      "POST",
      "PUT",
      "SEARCH",
    ]);
  });
});

import { describe, expect, it } from "vitest";
import { articleOf, plural } from "./names.js";

describe("names in generated prose", () => {
  it("puts a or an before an entity's name as it is said", () => {
    const said = ["User", "Order", "Item", "Account", "Event", "Unit", "Upload", "Umbrella", "Euro", "Book"].map(
      (noun) => `${articleOf(noun)} ${noun.toLowerCase()}`,
    );
    expect(said).toEqual([
      "a user",
      "an order",
      "an item",
      "an account",
      "an event",
      "a unit",
      "an upload",
      "an umbrella",
      "a euro",
      "a book",
    ]);
  });

  it("makes the plural of List<Plural> rpcs", () => {
    expect(["User", "Category", "Address", "Box"].map(plural)).toEqual(["Users", "Categories", "Addresses", "Boxes"]);
  });
});

import { describe, expect, it } from "vitest";
import { repoRoot } from "./support/cli.js";
import { allowScriptsOf, packagesWithInstallScripts } from "./support/install-scripts.js";

describe("install scripts", () => {
  // npm 11.16+ ends every install with a warning for each dependency whose install script
  // allowScripts does not decide, and npm 12 skips those it does not allow.
  it("this checkout's package.json decides every installed dependency's, and names none not installed", async () => {
    expect(await allowScriptsOf(repoRoot)).toEqual(await packagesWithInstallScripts(repoRoot));
  });
});

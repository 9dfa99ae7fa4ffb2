#!/usr/bin/env node
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { failCommand, knownFlagsOf } from "./cli/fail.js";
import { newFlags, runNew } from "./cli/new-cli.js";
import { readSwitches } from "./cli/switch-flags.js";
import { version } from "./cli/package-paths.js";

const cli = yargs(hideBin(process.argv));
await cli
  .scriptName("create-tsmicro")
  .version(version)
  .middleware(async (argv) => readSwitches(argv, hideBin(process.argv)))
  .strict()
  .command("$0 <name>", "create a tsmicro project (same as tsmicro new)", newFlags, runNew)
  .fail(failCommand("create-tsmicro", knownFlagsOf(cli)))
  .parseAsync();

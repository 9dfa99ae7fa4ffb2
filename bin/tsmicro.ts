#!/usr/bin/env node
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { isSetupError } from "@tsmicro/runtime";
import { generateCommand } from "./cli/generate-command.js";
import { version } from "./cli/package-paths.js";

await yargs(hideBin(process.argv))
  .scriptName("tsmicro")
  .version(version)
  .strict()
  .demandCommand(1, "name a command; see tsmicro --help")
  .command(
    "generate",
    "regenerate src/gen from proto/ (buf from npm; no protoc needed)",
    (y) =>
      y
        .option("proto", { type: "string", default: "proto", describe: "folder of .proto files (an import root)" })
        .option("out", { type: "string", default: "src/gen", describe: "folder for generated files" })
        .option("templates", { type: "string", describe: "folder of templates overriding the shipped ones" })
        .option("opt", {
          type: "string",
          array: true,
          default: [],
          describe: "plugin option key=value, as --tsmicro_opt",
        }),
    async (argv) => {
      const result = await generateCommand({
        proto: argv.proto,
        out: argv.out,
        templates: argv.templates,
        opt: argv.opt,
      });
      const { written, unchanged } = result;
      process.stdout.write(
        `generated ${written.length + unchanged.length} files in ${argv.out} (${written.length} changed)\n`,
      );
      for (const file of result.removed) process.stdout.write(`removed ${file} (its proto is gone)\n`);
    },
  )
  .fail((message, error) => {
    if (error && !isSetupError(error)) throw error;
    process.stderr.write(`tsmicro: ${error ? error.message : message}\n`);
    process.exit(1);
  })
  .parseAsync();

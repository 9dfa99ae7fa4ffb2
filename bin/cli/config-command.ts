import { isTsmicroError } from "@tsmicro/runtime";
import {
  configAddresses,
  configDelete,
  configGet,
  configImport,
  configSet,
  configWatch,
  etcdCredentialsFromEnv,
  type ConfigCommandOptions,
} from "@tsmicro/runtime/internal";
import type { Argv } from "yargs";
import { CommandError } from "./command-error.js";

/** The flags every `tsmicro config` command takes. */
function configFlags<T>(y: Argv<T>) {
  return (
    y
      // As every registry command takes it, and scripts give it to all of them alike: the config centre is
      // etcd's, so etcd is the one value (another is refused, naming the flag).
      .option("registry", { type: "string", describe: "etcd, the only registry the config centre is in" })
      .option("registry_address", {
        type: "string",
        describe: "etcd endpoints, comma-separated (default 127.0.0.1:2379; also TSMICRO_REGISTRY_ADDRESS)",
      })
      .option("service", { type: "string", describe: "the service whose settings: keys under /micro/config/SERVICE/" })
      .option("prefix", { type: "string", describe: "the key prefix instead (default /micro/config/)" })
      .option("secret", { type: "string", array: true, describe: "a dotted path to print as [secret] (repeatable)" })
      .option("show_secrets", { type: "boolean", default: false, describe: "print secret values instead of [secret]" })
      // The spelling with a dash works too, out of --help: one spelling per flag.
      .option("show-secrets", { type: "boolean", hidden: true })
  );
}

/** The parsed flags as the runtime's config commands take them. */
function optionsOf(argv: {
  registry?: string | undefined;
  registry_address?: string | undefined;
  service?: string | undefined;
  prefix?: string | undefined;
  secret?: string[] | undefined;
  show_secrets?: boolean | undefined;
  "show-secrets"?: boolean | undefined;
}): ConfigCommandOptions {
  return {
    addresses: configAddresses({ registry: argv.registry, registryAddress: argv.registry_address }, process.env),
    auth: etcdCredentialsFromEnv(process.env),
    service: argv.service,
    prefix: argv.prefix,
    secrets: argv.secret ?? [],
    showSecrets: Boolean(argv.show_secrets || argv["show-secrets"]),
  };
}

/**
 * The options of a command that writes: a key outside every service's
 * folder is read by no service, so writing needs `--service` (or an
 * explicit `--prefix`).
 */
function writeOptions(argv: Parameters<typeof optionsOf>[0]): ConfigCommandOptions {
  if (argv.service === undefined && argv.prefix === undefined)
    throw new CommandError(
      "say whose settings these are: --service NAME writes under /micro/config/NAME/, where that service reads; " +
        "--prefix PATH writes elsewhere on purpose",
    );
  return optionsOf(argv);
}

/** A failed etcd call or a missing key is the user's to fix: one line, exit 1 (fail.ts prints it). */
async function printing(work: () => Promise<string>): Promise<void> {
  try {
    process.stdout.write(await work());
  } catch (error) {
    if (isTsmicroError(error)) throw new CommandError(error.message);
    throw error;
  }
}

/** `tsmicro config get|set|del|watch|import`: settings in etcd, one key per leaf under `/micro/config/<service>/`. */
export function configCommands<T>(y: Argv<T>) {
  return configFlags(y)
    .command(
      "get [path]",
      "print a setting or subtree (all settings without PATH) as JSON; secrets as [secret]",
      (z) => z.positional("path", { type: "string", default: "", describe: "dotted path, such as database.url" }),
      (argv) => printing(() => configGet(optionsOf(argv), argv.path)),
    )
    .command(
      "set <path> <value>",
      'write a setting; VALUE is JSON when it parses (8080, true, {...}), else a string; one starting with {, [ or " must parse',
      (z) =>
        z
          .positional("path", { type: "string", demandOption: true })
          .positional("value", { type: "string", demandOption: true }),
      (argv) => printing(() => configSet(writeOptions(argv), argv.path, argv.value)),
    )
    .command(
      "del <path>",
      "delete a setting and everything under it",
      (z) => z.positional("path", { type: "string", demandOption: true }),
      (argv) => printing(() => configDelete(writeOptions(argv), argv.path)),
    )
    .command(
      "watch [path]",
      "print each change (at or under PATH) as a JSON line until interrupted",
      (z) => z.positional("path", { type: "string", default: "" }),
      (argv) =>
        printing(async () => {
          const stop = new AbortController();
          process.once("SIGINT", () => stop.abort());
          process.once("SIGTERM", () => stop.abort());
          await configWatch(optionsOf(argv), argv.path, (line) => process.stdout.write(line), stop.signal);
          return "";
        }),
    )
    .command(
      "import <file>",
      "write a JSON or YAML file's settings, one key per leaf, in one transaction",
      (z) =>
        z
          .positional("file", { type: "string", demandOption: true })
          .option("replace", { type: "boolean", default: false, describe: "also delete keys the file does not hold" }),
      (argv) => printing(() => configImport(writeOptions(argv), argv.file, argv.replace)),
    )
    .demandCommand(1, "name a config command: get, set, del, watch or import");
}

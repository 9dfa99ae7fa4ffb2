#!/usr/bin/env node
import yargs, { type Argv } from "yargs";
import { hideBin } from "yargs/helpers";
import { CommandError } from "./cli/command-error.js";
import { failCommand, knownFlagsOf, unknownSubcommand, writeErrorLine } from "./cli/fail.js";
import { readSwitches } from "./cli/switch-flags.js";
import { version } from "./cli/package-paths.js";
import { findWorkspace } from "./cli/workspace.js";

// Output piped into a reader that stops early (`tsmicro call … | head`): what is left
// has nowhere to go, which is no failure of the command.
function exitOnClosedOutput(error: NodeJS.ErrnoException): void {
  if (error.code !== "EPIPE") throw error;
  process.exit(0);
}
process.stdout.on("error", exitOnClosedOutput);

// Each command loads its modules when it runs (yargs awaits a builder's
// promise too), so `tsmicro --version`, `generate` or `routes` never load the
// runtime's transport, registries or the gateway.
const registryCommands = () => import("./cli/registry-commands.js");

/** The registry flags every registry command takes, by go-micro's names (also TSMICRO_* / MICRO_* variables). */
function registryFlags<T>(y: Argv<T>) {
  return y
    .option("registry", { type: "string", describe: "local (default), etcd or memory" })
    .option("registry_address", {
      type: "string",
      describe: "etcd endpoints (comma-separated) or the local registry folder",
    });
}

/** The command line as given, for the runtime's own flag parsing. */
function rawArgs(argv: { registry?: string | undefined; registry_address?: string | undefined }): string[] {
  const args: string[] = [];
  if (argv.registry !== undefined) args.push(`--registry=${argv.registry}`);
  if (argv.registry_address !== undefined) args.push(`--registry_address=${argv.registry_address}`);
  return args;
}

/**
 * `list services` and `get service` are a command and a fixed word, which
 * yargs reads as a positional: any other word there is a slip, not a name.
 */
function expectWord(argv: Record<string, unknown>, command: string, word: string): void {
  if (argv[word] === word) return;
  throw new CommandError(unknownSubcommand(command, String(argv[word])));
}

/** What `tsmicro api --help` and `tsmicro web --help` add below their own flags. */
const serviceFlagsNote =
  "It also takes a service's flags: --selector, --client_* and --breaker_* (retries, timeouts, breakers), " +
  "--metrics_address (/metrics on the HTTP port by default; HOST:PORT serves it there instead, off not at all), " +
  "--shutdown_grace, --log_* and --trace_*; each flag is read from TSMICRO_<NAME> too. " +
  "A service's server, registration, protection, database and (but for --handler event) broker flags " +
  "are accepted and not read: a warning at start names each one given. docs/gateway.md lists them all.";

/** Whether `tsmicro dev` names its entry: the words after it are then the service's own, --help among them. */
function hasEntry(words: readonly string[]): boolean {
  return words[1] !== undefined && !words[1].startsWith("-");
}

/** What `tsmicro run --help` adds: where the services' flags go. */
const runFlagsNote =
  "Every other flag goes to each service, such as tsmicro run --registry=etcd (or tsmicro run user -- --registry=etcd); " +
  "npm run dev at a workspace's root passes them on too: npm run dev -- --registry=etcd.";

const cli = yargs(hideBin(process.argv));
await cli
  .scriptName("tsmicro")
  .version(version)
  // One spelling per flag: no camelCase twin of a dashed one (--showSecrets for --show-secrets).
  .parserConfiguration({ "camel-case-expansion": false })
  .middleware(async (argv) => readSwitches(argv, hideBin(process.argv)))
  .strict()
  .demandCommand(1, "name a command; see tsmicro --help")
  .recommendCommands()
  .command(
    "generate",
    "regenerate src/gen from proto/ (buf from npm; no protoc needed)",
    (y) =>
      y
        // No yargs defaults: a flag given wins over the project's tsmicro.json, which wins over proto/ and src/gen/.
        .option("proto", { type: "string", describe: "folder of .proto files, an import root (default proto)" })
        .option("out", { type: "string", describe: "folder for generated files (default src/gen)" })
        .option("templates", { type: "string", describe: "folder of templates overriding the shipped ones" })
        .option("strict_routes", {
          type: "boolean",
          default: false,
          describe: "fail when two methods claim the same HTTP route (default: warn)",
        })
        // The old spelling, kept working for existing scripts but out of --help: one spelling per flag.
        .option("strict-routes", { type: "boolean", hidden: true, deprecated: "use --strict_routes" })
        .option("opt", {
          type: "string",
          array: true,
          default: [],
          describe: "plugin option key=value, as --tsmicro_opt",
        }),
    async (argv) => {
      for (const flag of ["proto", "out", "templates"] as const) {
        if (argv[flag] === "") throw new CommandError(`--${flag} needs a folder: --${flag} DIR`);
      }
      const options = {
        proto: argv.proto,
        out: argv.out,
        templates: argv.templates,
        opt: [...argv.opt, ...(argv.strict_routes || argv["strict-routes"] ? ["strict_routes=true"] : [])],
      };
      const { generateProject, generateWorkspace, isProject, projectReport } = await import(
        "./cli/project-generate.js"
      );
      if (await findWorkspace(process.cwd())) {
        process.stdout.write(await generateWorkspace(process.cwd(), options.templates, options.opt));
        return;
      }
      const project = isProject(process.cwd()) ? await generateProject(process.cwd(), options) : undefined;
      const out = project?.out ?? options.out ?? "src/gen";
      const result =
        project?.generated ?? (await (await import("./cli/generate-command.js")).generateCommand({ ...options, out }));
      const { written, unchanged } = result;
      process.stdout.write(
        `generated ${written.length + unchanged.length} files in ${out} (${written.length} changed)\n`,
      );
      const removed = project?.removed ?? result.removed.map((path) => ({ path, why: "its proto is gone" }));
      for (const file of removed) process.stdout.write(`removed ${file.path} (${file.why})\n`);
      if (project) process.stdout.write(projectReport(project));
    },
  )
  .command("template", "start or repair a folder of templates for --templates", (y) =>
    y
      .command(
        "init [dir]",
        "write the shipped templates into DIR (default templates) to edit; existing files are kept",
        (z) => z.positional("dir", { type: "string", default: "templates" }),
        async (argv) => {
          const { templateInit } = await import("./cli/template-command.js");
          const { written, kept } = await templateInit(argv.dir);
          process.stdout.write(
            `wrote ${written.length} templates to ${argv.dir}${kept.length ? ` (kept ${kept.length} already there)` : ""}\n`,
          );
        },
      )
      .command(
        "revert <dir> <name>",
        "put the shipped version of one template (such as project/service/Dockerfile.ejs) back into DIR",
        (z) =>
          z
            .positional("dir", { type: "string", demandOption: true })
            .positional("name", { type: "string", demandOption: true }),
        async (argv) => {
          const { templateRevert } = await import("./cli/template-command.js");
          await templateRevert(argv.dir, argv.name);
          process.stdout.write(`reverted ${argv.name} in ${argv.dir}\n`);
        },
      )
      .demandCommand(1, "name a template command: init or revert"),
  )
  .command(
    "new <name>",
    "create a project: a service, api or web service (as create-tsmicro)",
    async (y) => (await import("./cli/new-cli.js")).newFlags(y),
    async (argv) => (await import("./cli/new-cli.js")).runNew(argv),
  )
  .command(
    "routes",
    "print the google.api.http route table of proto/: HTTP method, path, package.Service.Method",
    (y) =>
      y.option("proto", {
        type: "string",
        describe: "folder of .proto files (an import root); default: the project's (tsmicro.json), else proto",
      }),
    async (argv) => {
      const { routesCommand } = await import("./cli/routes-command.js");
      const warn = (message: string) => process.stderr.write(`tsmicro: warning: ${message}\n`);
      process.stdout.write(await routesCommand(argv.proto, warn));
    },
  )
  .command(
    "api",
    "run the HTTP gateway: google.api.http routes, /{service}/{method}, POST /rpc, /openapi.json (as micro api), and /healthz, its health for probes",
    (y) =>
      registryFlags(y)
        .strict(false)
        .option("address", { type: "string", describe: "host:port to listen on (default :8080)" })
        .option("namespace", { type: "string", describe: "registry names behind default routes are namespace.segment" })
        .option("api_namespace", { type: "string", describe: "go-micro's name for --namespace" })
        .option("prefix", { type: "string", describe: "serve every route under this path, such as /api" })
        .option("handler", {
          type: "string",
          describe: "rpc (default), web or proxy (reverse proxy to HTTP services), event (POST /{topic} publishes)",
        })
        .option("broker", {
          type: "string",
          describe: "--handler event publishes through: http (default), nats, memory",
        })
        .option("broker_address", {
          type: "string",
          describe: "NATS server URLs for --broker nats (default nats://127.0.0.1:4222)",
        })
        .option("broker_jetstream", { type: "string", describe: "on: publish through NATS JetStream" })
        .option("tls_cert_file", { type: "string", describe: "serve HTTPS with this certificate (PEM)" })
        .option("tls_key_file", { type: "string", describe: "the certificate's private key (PEM)" })
        .option("cors_origins", { type: "string", describe: "comma-separated origins allowed by CORS; * for any" })
        .option("body_limit", {
          type: "string",
          describe: "largest request body, such as 1mb (default); bigger is 413",
        })
        .option("strict_routes", { type: "string", describe: "on: refuse services whose routes collide" })
        .option("config", { type: "string", describe: "JSON file with JWT keys and per-route auth and rate limits" })
        .option("json_emit_unpopulated", {
          type: "string",
          describe: "on: write fields without presence at their zero values, as grpc-gateway's EmitUnpopulated",
        })
        .option("json_use_proto_names", {
          type: "string",
          describe: "on: name response fields as the proto does (display_name), as grpc-gateway's UseProtoNames",
        })
        .option("forward_headers", {
          type: "string",
          describe: "headers to forward as metadata, comma-separated; grpcgateway: as grpc-gateway (grpcgateway-*)",
        })
        .option("trust_proxy", {
          type: "string",
          describe:
            "proxies whose X-Forwarded-For names the client (addresses, CIDRs, a number of hops; on: every hop), for per-client limits",
        })
        .option("shutdown_delay", {
          type: "string",
          describe:
            "on SIGTERM or SIGINT, answer 503 on /healthz and keep serving this long (such as 10s) before closing",
        })
        .option("dashboard", { type: "string", describe: "on: serve the dashboard (as tsmicro web) at /dashboard/" })
        .option("dashboard_calls", {
          type: "string",
          describe: "on or off: whether the dashboard may call methods (default: only when bound to loopback)",
        })
        .option("dashboard_token", { type: "string", describe: "the token the dashboard's calls must give" })
        .epilog(serviceFlagsNote),
    async () => {
      const { apiCommand } = await import("./cli/api-command.js");
      await apiCommand(process.argv.slice(3)).run();
    },
  )
  .command(
    "run [services..]",
    "start the dev script (tsmicro dev) of every service of the workspace, or of those named, in one terminal; FLAGS go to each",
    (y) =>
      y
        .positional("services", { type: "string", array: true, describe: "services/ folder names; all when none" })
        // The services' flags are theirs to read: run passes them on (runArguments refuses a misspelt one).
        .strict(false)
        .epilog(runFlagsNote),
    async () => {
      const { runArguments, runCommand } = await import("./cli/run-command.js");
      // Exiting at once would leave its services running with nobody to stop them: it stops them first.
      process.stdout.off("error", exitOnClosedOutput);
      process.exitCode = await runCommand(process.cwd(), runArguments(process.argv.slice(3)));
    },
  )
  .command(
    "dev [entry]",
    "a service's npm run dev: run ENTRY (TypeScript) with FLAGS, restart it when a file of its folder changes, and start it again when a signal killed it; one per folder",
    (y) =>
      y
        .positional("entry", { type: "string", describe: "the service's entry file, such as src/main.ts" })
        // The flags are the service's to read, --help (the service's flags) and --version too.
        .strict(false)
        .help(!hasEntry(hideBin(process.argv)))
        .version(false)
        .epilog("Every flag after ENTRY goes to the service, as tsmicro dev src/main.ts --log_format=pretty."),
    async () => {
      const { devCommand } = await import("./cli/dev-command.js");
      process.stdout.off("error", exitOnClosedOutput);
      process.exitCode = await devCommand(process.cwd(), process.argv.slice(3));
    },
  )
  .command(
    "web",
    "run the dashboard (as micro web): services, nodes, health, methods, live charts and a call form",
    (y) =>
      registryFlags(y)
        .strict(false)
        .option("address", { type: "string", describe: "host:port to listen on (default 127.0.0.1:8082)" })
        .option("dashboard_calls", {
          type: "string",
          describe: "on or off: whether the page may call methods (default: only when bound to loopback)",
        })
        .option("dashboard_token", { type: "string", describe: "calls from the page must give this token" })
        .epilog(serviceFlagsNote),
    async () => {
      const { webCommand } = await import("./cli/api-command.js");
      await webCommand(process.argv.slice(3)).run();
    },
  )
  .command("config", "read, write and watch settings in etcd (the config centre)", async (y) =>
    (await import("./cli/config-command.js")).configCommands(y),
  )
  .command("list services", "list the services in the registry", registryFlags, async (argv) => {
    expectWord(argv, "list", "services");
    const { listServices, withRegistry } = await registryCommands();
    process.stdout.write(await withRegistry(rawArgs(argv), listServices));
  })
  .command(
    "get service <name>",
    "show a service's versions, nodes and endpoints",
    (y) =>
      registryFlags(y).positional("name", { type: "string", demandOption: true }).option("json", {
        type: "boolean",
        default: false,
        describe: "print the service as JSON instead of text",
      }),
    async (argv) => {
      expectWord(argv, "get", "service");
      const { getService, withRegistry } = await registryCommands();
      process.stdout.write(await withRegistry(rawArgs(argv), (registry) => getService(registry, argv.name, argv.json)));
    },
  )
  .command(
    "call <service> <method> [request]",
    "call a method of a running service with a proto3 JSON request (types come from server reflection)",
    async (y) =>
      (await registryCommands())
        .clientFlags(registryFlags(y))
        .positional("service", { type: "string", demandOption: true, describe: "registered service name" })
        .positional("method", { type: "string", demandOption: true, describe: "Service.Method or pkg.Service/Method" })
        .positional("request", {
          type: "string",
          default: "{}",
          describe: "proto3 JSON (an array for streaming requests); - reads it from standard input, @FILE from a file",
        })
        .option("metadata", {
          type: "string",
          describe: "KEY=VALUE sent with the call as gRPC metadata; repeat it for more (a -bin key takes base64)",
        }),
    async (argv) => {
      const { clientArgs, withRegistry } = await registryCommands();
      const { callCommand, requestText } = await import("./cli/call-command.js");
      // yargs reads a lone "-" as no argument at all: look for it among the words given.
      const given = process.argv.slice(2).includes("-") ? "-" : argv.request;
      const request = {
        service: argv.service,
        method: argv.method,
        json: await requestText(given, process.stdin),
        args: clientArgs(argv),
        metadata: ([] as string[]).concat(argv.metadata ?? []),
      };
      await withRegistry(rawArgs(argv), (registry) =>
        callCommand(registry, request, (text) => process.stdout.write(text)),
      );
    },
  )
  .command(
    "health <service>",
    "check every node of a service with grpc.health.v1",
    async (y) =>
      (await registryCommands())
        .clientFlags(registryFlags(y))
        .positional("service", { type: "string", demandOption: true }),
    async (argv) => {
      const { clientArgs, healthOf, withRegistry } = await registryCommands();
      const { output, healthy, summary } = await withRegistry(rawArgs(argv), (registry) =>
        healthOf(registry, argv.service, clientArgs(argv)),
      );
      process.stdout.write(output);
      if (!healthy) {
        writeErrorLine(`tsmicro: health check failed: ${summary}`);
        process.exitCode = 1;
      }
    },
  )
  .command(
    "prometheus-targets",
    "write Prometheus file_sd targets (every node's /metrics, from the registry) to --out; --watch keeps it current",
    (y) =>
      registryFlags(y)
        .option("out", {
          type: "string",
          demandOption: true,
          describe: "the targets file, such as targets/tsmicro.json",
        })
        .option("watch", { type: "boolean", default: false, describe: "rewrite the file on every registry change" })
        .option("target", {
          type: "string",
          array: true,
          default: [],
          describe: "a target the registry lacks, such as the gateway: service=host:port (repeatable)",
        }),
    async (argv) => {
      const { withRegistry } = await registryCommands();
      const { parseStaticTarget, watchTargets, writeTargetsOnce } = await import("./cli/prometheus-targets.js");
      const options = {
        out: argv.out,
        statics: argv.target.map(parseStaticTarget),
        onWrite: (targets: number) =>
          process.stdout.write(`wrote ${targets} target${targets === 1 ? "" : "s"} to ${argv.out}\n`),
      };
      await withRegistry(rawArgs(argv), async (registry) => {
        if (!argv.watch) return void (await writeTargetsOnce(registry, options));
        const stop = new AbortController();
        process.once("SIGINT", () => stop.abort());
        process.once("SIGTERM", () => stop.abort());
        await watchTargets(registry, options, stop.signal);
      });
    },
  )
  .fail(failCommand("tsmicro", knownFlagsOf(cli)))
  .parseAsync();

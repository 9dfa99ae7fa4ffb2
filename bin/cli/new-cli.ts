import type { Argv } from "yargs";
import { CommandError } from "./command-error.js";
import { newCommand, newWorkspace, type NewCommandResult } from "./new-command.js";

/**
 * The flags of `create-tsmicro NAME` and `tsmicro new NAME`: one definition for both. --type and --db
 * are strings too, so written without a value they come as "" (untyped, yargs would make them true),
 * which the failure handler says needs a value; --type has no yargs default, which would replace "".
 */
export function newFlags<T>(y: Argv<T>) {
  return y
    .positional("name", { type: "string", demandOption: true, describe: "project (and service) name, such as user" })
    .option("dir", { type: "string", describe: "folder to create (default ./NAME); must be missing or empty" })
    .option("namespace", { type: "string", describe: "registered name becomes NAMESPACE.TYPE.ALIAS, as micro new" })
    .option("type", {
      type: "string",
      choices: ["service", "api", "web"] as const,
      describe:
        "service (default): gRPC with domain layers and a database; api: HTTP edge service; web: fastify web service",
    })
    .option("alias", { type: "string", describe: "the service's short name (default NAME)" })
    .option("proto", { type: "string", describe: "start from this .proto instead of the sample" })
    .option("db", {
      type: "string",
      choices: ["pglite", "postgres"] as const,
      describe: "pglite (default): embedded, data in the project; postgres: DATABASE_URL; --type service only",
    })
    .option("templates", { type: "string", describe: "folder of templates overriding the shipped ones, file by file" })
    .option("install", { type: "boolean", default: true, describe: "run npm install (--no-install skips it)" })
    .option("workspace", {
      type: "boolean",
      default: false,
      describe: "make a workspace for several services; then run tsmicro new NAME inside it",
    });
}

/** Runs the command with parsed flags and prints the progress and the next steps. */
export async function runNew(argv: {
  name: string;
  dir?: string | undefined;
  namespace?: string | undefined;
  type?: "service" | "api" | "web" | undefined;
  alias?: string | undefined;
  proto?: string | undefined;
  db?: "pglite" | "postgres" | undefined;
  templates?: string | undefined;
  install: boolean;
  workspace: boolean;
}): Promise<void> {
  const progress = (line: string) => process.stdout.write(`${line}\n`);
  refuseBareFlags(argv);
  const type = argv.type ?? "service";
  if (argv.db !== undefined && (argv.workspace || type !== "service"))
    throw new CommandError(
      `--db is for a service (--type service), which has a database; ${argv.workspace ? "a workspace" : `--type ${type}`} has none`,
    );
  if (argv.workspace) {
    const perService = [
      argv.namespace !== undefined && "--namespace",
      argv.alias !== undefined && "--alias",
      argv.proto !== undefined && "--proto",
      argv.type !== undefined && "--type",
    ].filter((flag): flag is string => flag !== false);
    if (perService.length > 0)
      throw new CommandError(
        `${perService.join(", ")} ${perService.length > 1 ? "are" : "is"} for a service, not a workspace: ` +
          `give ${perService.length > 1 ? "them" : "it"} to each tsmicro new NAME inside the workspace`,
      );
    const result = await newWorkspace(
      { name: argv.name, dir: argv.dir, templates: argv.templates, install: argv.install },
      progress,
    );
    process.stdout.write(
      nextSteps(
        `created the workspace ${result.registeredName} in ${result.dir}`,
        "next:",
        result.dir,
        result.installed,
        [
          "npx tsmicro new user              # a service in services/user",
          "npx tsmicro new edge --type api   # an API service calling it",
          "npx tsmicro new site --type web   # a web service behind tsmicro api --handler web",
          "npm run dev                       # every service, restarting on change",
        ],
      ),
    );
    return;
  }
  const result = await newCommand(
    {
      name: argv.name,
      dir: argv.dir,
      namespace: argv.namespace,
      type,
      alias: argv.alias,
      proto: argv.proto,
      db: argv.db ?? "pglite",
      templates: argv.templates,
      install: argv.install,
    },
    progress,
  );
  process.stdout.write(projectNextSteps(result, argv.db ?? "pglite"));
}

/** What each string flag takes, with an example: said when it is written without its value. */
const flagValues = {
  dir: "the folder to create the project in, such as --dir ./x",
  namespace: "dot-separated lower-case words, such as --namespace mu.micro.book",
  alias: "the service's short name, such as --alias user",
  proto: "the .proto file to start from, such as --proto user.proto",
  templates: "the folder of templates, such as --templates templates",
} as const;

type StringFlag = keyof typeof flagValues;

/** A string flag written without its value comes from yargs as "" (`--dir` alone would mean the cwd): refused. */
function refuseBareFlags(argv: Partial<Record<StringFlag, string | undefined>>): void {
  for (const flag of Object.keys(flagValues) as StringFlag[])
    if (argv[flag] === "") throw new CommandError(`--${flag} needs a value: ${flagValues[flag]}`);
}

/** What a new project or workspace should do next: where it is, then the commands, each on its own line. */
function nextSteps(created: string, heading: string, dir: string, installed: boolean, commands: string[]): string {
  const lines = [`cd ${dir}`, ...(installed ? [] : ["npm install"]), ...commands];
  return [created, "", heading, ...lines.map((line) => `  ${line}`), ""].join("\n");
}

function projectNextSteps(result: NewCommandResult, db: "pglite" | "postgres"): string {
  const created = `created ${result.registeredName} in ${result.dir} (${result.files} files)`;
  if (result.workspace)
    return (
      nextSteps(created, "next, at the workspace root:", result.workspace, result.installed, [
        "npm run dev      # every service of the workspace, this one too, restarting on change",
        ...gatewayStep(result),
        "npm test         # type-check and test every service",
      ]) +
      wiringSteps(result) +
      composeSteps(result) +
      gatewaySteps(result)
    );
  // On PostgreSQL the service neither starts without the server nor creates its tables itself.
  const database =
    db === "postgres"
      ? [
          "export DATABASE_URL=postgres://USER@HOST:5432/DATABASE   # your PostgreSQL (USER:PASSWORD@ with a password)",
          "npm run migrate  # create the tables there",
        ]
      : [];
  return nextSteps(created, "next:", result.dir, result.installed, [
    ...database,
    "npm run dev      # run it, restarting on change; registers in the local registry",
    ...gatewayStep(result),
    "npm test         # type-check and test",
  ]);
}

/** The gateway's command line for a service registered under a namespace, which a plain `tsmicro api` does not reach by name. */
function gatewayStep({ registeredName, gateway }: NewCommandResult): string[] {
  return gateway ? [`${gateway.command}   # the HTTP gateway in front of ${registeredName}`] : [];
}

/**
 * How the workspace's API services, made before this service, can call it:
 * generate gave them its client, but their main.ts (theirs to edit) builds
 * only the clients of the services there were then.
 */
function wiringSteps({ registeredName, callers }: NewCommandResult): string {
  if (!callers) return "";
  const lines = callers.apis.flatMap((api) => [
    "",
    `to call ${registeredName} from ${api} (its client is in ${api}/src/gen/):`,
    // What main.ts, Dependencies and the test would have had, had the service existed when the API was made.
    ...callers.clients.flatMap(({ field, clientType, definitionName, genModule }) => {
      const module = `gen/${genModule}.micro.js`;
      return [
        `  ${api}/src/main.ts: import { ${definitionName} } from "./${module}";`,
        `    and in deps: ${field}: service.client(${definitionName}, "${registeredName}"),`,
        `  ${api}/src/handler/dependencies.ts: import type { ${clientType} } from "../${module}";`,
        `    and in Dependencies: readonly ${field}: ${clientType};`,
        `  ${api}/test/grpc.test.ts: import { ${definitionName} } from "../src/${module}";`,
        `    and in deps: ${field}: service.client(${definitionName}, "${registeredName}"), with a stand-in as for the others`,
      ];
    }),
  ]);
  return `${lines.join("\n")}\n`;
}

/** The line that lists the service's compose.yml in the workspace's docker-compose.yml, which is the user's to edit. */
function composeSteps({ registeredName, compose }: NewCommandResult): string {
  if (!compose) return "";
  const item = `- ${compose.file}`;
  const lines = compose.hasInclude
    ? [
        `to run ${registeredName} with docker compose up, add to the include: list of the workspace's docker-compose.yml:`,
        `  ${item}`,
      ]
    : [
        `to run ${registeredName} with docker compose up, add to the workspace's docker-compose.yml:`,
        "  include:",
        `    ${item}`,
      ];
  return `\n${lines.join("\n")}\n`;
}

/**
 * What the workspace's gateway needs to reach a service registered under a namespace (`shop.api.edge`,
 * `shop.web.site`): the same namespace on its command, which tsmicro does not edit either.
 */
function gatewaySteps({ registeredName, gateway }: NewCommandResult): string {
  const namespace = registeredName.slice(0, registeredName.lastIndexOf("."));
  const kind = gateway?.handler === "web" ? "web gateway" : "gateway";
  const lines = (gateway?.changes ?? []).flatMap(({ service, command, serves }) =>
    command !== undefined
      ? [
          "",
          `to reach ${registeredName} through ${service} under docker compose up, change ${service}'s command in the workspace's docker-compose.yml to:`,
          `  command: ${command}`,
        ]
      : [
          "",
          `${service} in the workspace's docker-compose.yml serves the namespace ${serves}, and a ${kind} serves one namespace:`,
          `  to reach ${registeredName}, add a second ${kind} (a copy of ${service} on another port) with --namespace=${namespace}`,
        ],
  );
  return lines.length > 0 ? `${lines.join("\n")}\n` : "";
}

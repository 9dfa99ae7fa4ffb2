/**
 * `--help` on a service or web service: the flags it reads, by concern, and
 * the page of tsmicro's docs that says what each does. A go-micro service
 * prints its flags on `--help`; one that ignored it would start, open its
 * database and register a node.
 */

/** A group of flags in the help, with the page describing them. */
interface HelpSection {
  readonly title: string;
  readonly page: string;
  readonly holds: (flag: string) => boolean;
}

/** In order; a flag goes to the first section that holds it, and the last holds the rest. */
const sections: readonly HelpSection[] = [
  {
    title: "registry",
    page: "docs/registry.md",
    holds: (flag) => /^regist|^server_(address|advertise)$/.test(flag),
  },
  { title: "selector", page: "docs/selector.md", holds: (flag) => flag === "selector" },
  { title: "client and breakers", page: "docs/client.md", holds: (flag) => /^(client_|breaker)/.test(flag) },
  { title: "broker", page: "docs/broker.md", holds: (flag) => flag.startsWith("broker") },
  { title: "metrics", page: "docs/metrics.md", holds: (flag) => flag.startsWith("metrics_") },
  { title: "tracing", page: "docs/tracing.md", holds: (flag) => flag.startsWith("trace_") },
  { title: "logs", page: "docs/logs.md", holds: (flag) => flag.startsWith("log_") },
  {
    title: "database",
    page: 'README.md, "The database"',
    holds: (flag) => /^(database_|migrat)/.test(flag),
  },
  { title: "server", page: 'README.md, "Writing a service"', holds: () => true },
];

/** Whether `args` ask for help: `--help` or `-h`, before any `--`. */
export function asksForHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === "--") return false;
    if (arg === "--help" || arg === "-h") return true;
  }
  return false;
}

/** The help of the service `name`, which reads `flags`: one line per concern, the flags then the page. */
export function serviceHelp(name: string, flags: readonly string[]): string {
  const lines = [
    `${name}: a tsmicro service. Its flags, as --name=value or --name value, each also read from`,
    "TSMICRO_<NAME> and, as an alias, MICRO_<NAME> (--registry: TSMICRO_REGISTRY, MICRO_REGISTRY);",
    "each group's page of tsmicro's docs says what they do:",
    "",
  ];
  const left = new Set(flags);
  for (const section of sections) {
    const held = [...left].filter(section.holds);
    if (held.length === 0) continue;
    for (const flag of held) left.delete(flag);
    lines.push(`${section.title} (${section.page}):`, ...wrapped(held.map((flag) => `--${flag}`)));
  }
  return `${lines.join("\n")}\n`;
}

/** Words as lines of at most 80 columns, each indented by two spaces. */
function wrapped(words: readonly string[]): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of words) {
    if (line !== "" && line.length + 1 + word.length > 78) {
      lines.push(`  ${line}`);
      line = "";
    }
    line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(`  ${line}`);
  return lines;
}

/** What start() and checkFlags() throw when the arguments ask for help; `fatal` and `run()` print it and exit 0. */
export class HelpRequested extends Error {
  constructor(readonly help: string) {
    super("--help was given: the flags are printed instead of starting");
    this.name = "HelpRequested";
  }
}

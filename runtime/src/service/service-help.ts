/**
 * `--help` on a service or web service: the flags it reads, by concern,
 * each with what it does, its default and variables (as urfave/cli prints a
 * go-micro service's), and the page of tsmicro's docs that says more. A
 * go-micro service prints its flags on `--help`; one that ignored it would
 * start, open its database and register a node.
 */

import type { FlagUsage } from "./flag-values.js";

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

/** The widest the help is printed, so it reads in a terminal of 100 columns. */
const helpColumns = 100;

/**
 * The help of the service `name`, which reads `flags`: by concern, each group
 * headed by its docs page, then a line per flag with what it does, its
 * default and its variables, wrapped in a column of its own.
 */
export function serviceHelp(name: string, flags: Readonly<Record<string, FlagUsage>>): string {
  const lines = [
    `${name}: a tsmicro service. Its flags, as --name=value or --name value, each also read from the`,
    "variables in brackets: TSMICRO_<NAME> and, as an alias, MICRO_<NAME> (flags win over TSMICRO_*,",
    "which win over MICRO_*). Each group's page of tsmicro's docs says more.",
  ];
  const left = new Set(Object.keys(flags));
  // The descriptions start in one column for all groups, after the longest flag.
  const indent = Math.max(...[...left].map((flag) => flag.length)) + 6;
  for (const section of sections) {
    const held = [...left].filter(section.holds);
    if (held.length === 0) continue;
    for (const flag of held) left.delete(flag);
    lines.push("", `${section.title} (${section.page}):`);
    for (const flag of held) lines.push(...flagLines(flag, flags[flag]!, indent));
  }
  return `${lines.join("\n")}\n`;
}

/** One flag's lines: `  --name` then, from column `indent`, its usage, default and variables, wrapped. */
function flagLines(flag: string, usage: FlagUsage, indent: number): string[] {
  const width = helpColumns - indent;
  const variables = [`TSMICRO_${flag.toUpperCase()}`, `MICRO_${flag.toUpperCase()}`, ...(usage.alsoFrom ?? [])];
  const bracket = `[${variables.map((variable) => `$${variable}`).join(", ")}]`;
  const words = [
    ...usage.usage.split(" "),
    ...(usage.default === undefined ? [] : `(default: ${usage.default})`.split(" ")),
    // The variables kept on one line when they fit on one.
    ...(bracket.length <= width ? [bracket] : bracket.split(" ")),
  ];
  const [first = "", ...rest] = wrapped(words, width);
  return [`  --${flag}`.padEnd(indent) + first, ...rest.map((line) => " ".repeat(indent) + line)];
}

/** Words as lines of at most `width` columns (a longer word alone on its line). */
function wrapped(words: readonly string[], width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of words) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = "";
    }
    line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  return lines;
}

/** What start() and checkFlags() throw when the arguments ask for help; `fatal` and `run()` print it and exit 0. */
export class HelpRequested extends Error {
  constructor(readonly help: string) {
    super("--help was given: the flags are printed instead of starting");
    this.name = "HelpRequested";
  }
}

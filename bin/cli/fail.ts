import { createRequire } from "node:module";
import { closestName, codeName, isSetupError, isTsmicroError } from "@tsmicro/runtime/errors";
import { CommandError } from "./command-error.js";

/**
 * Writes one error line on stderr, with the passwords it quotes redacted (see redactedLine): a
 * terminal's scrollback, a CI log or a bug report is no place for `--registry_address http://app:PASSWORD@…`.
 */
export function writeErrorLine(line: string): void {
  process.stderr.write(`${redactedLine(line)}\n`);
}

/**
 * `line` redacted as a service's log lines are (redactText), and any password given in a URL on the
 * command line or in a TSMICRO_* or MICRO_* variable replaced wherever the line quotes it after its
 * user, URL or not (etcd words an unresolved host `the name app:PASSWORD@127.0.0.1 does not resolve`).
 */
export function redactedLine(line: string, given: readonly string[] = givenValues()): string {
  // Loaded only to print a failure: the runtime's internals are not what `tsmicro --version` should load.
  const { redacted, redactText, urlPassword } = createRequire(import.meta.url)(
    "@tsmicro/runtime/internal",
  ) as typeof import("@tsmicro/runtime/internal");
  let text = redactText(line);
  for (const value of given)
    for (const url of value.matchAll(urlPassword)) {
      const password = url[0].slice(url[1]!.length, -1);
      if (password !== "") text = text.replaceAll(`:${password}@`, `:${redacted}@`);
    }
  return text;
}

/** What the user gave the command: its arguments, and the TSMICRO_* and MICRO_* variables it reads. */
function givenValues(): string[] {
  const variables = Object.entries(process.env).filter(([name]) => /^(TSMICRO|MICRO)_/.test(name));
  return [...process.argv, ...variables.map(([, value]) => value ?? "")];
}

/**
 * The yargs failure handler of tsmicro's commands: usage errors, setup
 * errors, command errors and failed calls print one line and exit 1;
 * anything else is a bug and keeps its stack.
 */
export function failCommand(program: string, knownFlags: () => Iterable<string> = () => []) {
  return (message: string | undefined, error: Error | undefined): never => {
    if (error && !isSetupError(error) && !(error instanceof CommandError) && !isTsmicroError(error)) throw error;
    const text = !error
      ? (unknownCommand(program, message ?? "") ??
        unknownFlag(program, message ?? "", knownFlags) ??
        extraWords(program, message ?? "") ??
        usageHint(program, message ?? ""))
      : isTsmicroError(error)
        ? `call failed: ${codeName(error.code)}: ${error.message}`
        : error.message;
    writeErrorLine(`${program}: ${text}`);
    process.exit(1);
  };
}

/**
 * yargs' "Unknown arguments: registy" (or several, "a, b": the first one
 * typed as a flag) as one flag and the flag meant,
 * or where to read the command's flags; undefined for other messages.
 */
function unknownFlag(program: string, message: string, knownFlags: () => Iterable<string>): string | undefined {
  const listed = unknownArguments(message);
  if (!listed) return undefined;
  const typed = process.argv.slice(2);
  const given = (name: string) => (arg: string) =>
    [`-${name}`, `--${name}`].some((form) => arg === form || arg.startsWith(`${form}=`));
  // yargs reads --no-instal as the negation of a flag "instal", and names that.
  const negated = (name: string) => !typed.some(given(name)) && typed.some(given(`no-${name}`));
  const flag = listed.find((name) => typed.some(given(name)) || negated(name));
  if (flag === undefined) return undefined;
  const no = negated(flag) ? "no-" : "";
  const meant = closestName(flag, knownFlags());
  return meant
    ? `unknown flag --${no}${flag}: did you mean --${no}${meant}?`
    : `unknown flag --${no}${flag}; see ${helpOf(program)}`;
}

/**
 * yargs' "Unknown arguments: extra" of words typed after a command's own (`tsmicro list services
 * extra`): what the command takes, and its help; undefined for other messages.
 */
function extraWords(program: string, message: string): string | undefined {
  const listed = unknownArguments(message);
  const words = typedWords();
  if (!listed?.every((name) => words.includes(name))) return undefined;
  const command = program === "tsmicro" ? commandOf(words) : program;
  const named = program === "tsmicro" ? `tsmicro ${command}` : program;
  const takes = commandArguments[command] ?? "no other words";
  const many = listed.length === 1 ? "is one word" : `are ${listed.length} words`;
  return `${named} takes ${takes}; ${listed.join(" ")} ${many} too many; see ${helpOf(program)}`;
}

/** What yargs' "Unknown arguments: a, b" (or "Unknown argument: a") lists; undefined for other messages. */
function unknownArguments(message: string): string[] | undefined {
  return /^Unknown arguments?: (.+)$/.exec(message)?.[1]?.split(", ");
}

/** The words of the command line that are not flags. */
function typedWords(): string[] {
  return process.argv.slice(2).filter((arg) => !arg.startsWith("-"));
}

/** Where to read the usage: the named command's own help. */
function helpOf(program: string): string {
  const command = commandOf(typedWords());
  return `${program}${command && program === "tsmicro" ? ` ${command}` : ""} --help`;
}

/** Commands of two words, by their first: `list services`, `get service`, `config set`, `template init`. */
const groups: Readonly<Record<string, readonly string[]>> = {
  list: ["services"],
  get: ["service"],
  config: ["get", "set", "del", "watch", "import"],
  template: ["init", "revert"],
};

/** tsmicro's commands, by their first word (as its --help lists them). */
export const commandWords: readonly string[] = [
  "generate",
  "template",
  "new",
  "routes",
  "api",
  "run",
  "dev",
  "web",
  "config",
  "list",
  "get",
  "call",
  "health",
  "prometheus-targets",
];

/** Words as a list in prose: "a", "a or b", "a, b or c". */
function spoken(words: readonly string[]): string {
  return words.length < 2 ? (words[0] ?? "") : `${words.slice(0, -1).join(", ")} or ${words.at(-1)}`;
}

/**
 * A word that is none of a group's commands (`tsmicro config bogus`): the one meant when it is
 * close (closestName's rule), else the group's commands, as the group named alone says them.
 */
export function unknownSubcommand(group: string, word: string): string {
  const known = groups[group] ?? [];
  const meant = closestName(word, known);
  if (meant !== undefined) return `unknown command ${group} ${word}: did you mean ${group} ${meant}?`;
  return `no ${group} command ${word}: name ${known.length > 2 ? "one of " : ""}${spoken(known)}`;
}

/**
 * A first word that is no command (yargs says "Did you mean new?" of any word within three
 * edits, else "Unknown argument: foo"): the command meant only when it is close, else where they are listed.
 * A group's second word likewise, by unknownSubcommand. Undefined when the words name commands.
 */
function unknownCommand(program: string, message: string): string | undefined {
  if (program !== "tsmicro") return undefined;
  const recommended = /^Did you mean (.+)\?$/.test(message);
  const listed = unknownArguments(message) ?? [];
  if (!recommended && listed.length === 0) return undefined;
  const [first, second] = typedWords();
  if (first === undefined) return undefined;
  if (isGroup(first)) {
    if (second === undefined || groups[first]!.includes(second)) return undefined;
    return recommended || listed.includes(second) ? unknownSubcommand(first, second) : undefined;
  }
  if (commandWords.includes(first) || !(recommended || listed.includes(first))) return undefined;
  const meant = closestName(first, commandWords);
  return meant !== undefined
    ? `unknown command ${first}: did you mean ${meant}?`
    : `unknown command ${first}; see tsmicro --help`;
}

function isGroup(word: string | undefined): boolean {
  return word !== undefined && Object.hasOwn(groups, word);
}

/**
 * The command the words name: a group's second word only when it is one of
 * the group's (a flag's value typed as its own word, `--registry etcd`, is not).
 */
function commandOf(words: readonly string[]): string {
  const [first = "", second = ""] = words;
  return isGroup(first) && groups[first]!.includes(second) ? `${first} ${second}` : first;
}

/** The flags yargs knows at the moment of a failure (the command's, once one was named): it has them, its types do not say so. */
export function knownFlagsOf(cli: unknown): () => string[] {
  return () => Object.keys((cli as { getOptions?: () => { key?: object } }).getOptions?.().key ?? {});
}

/** A usage error in one line: the command meant, the values allowed, or where to read the usage. */
function usageHint(program: string, message: string): string {
  const words = typedWords();
  return recommendedCommand(message, words) ?? invalidChoice(message) ?? missingArguments(program, message, words);
}

/** yargs' recommendCommands says only "Did you mean list?", of a top-level command or of a group's. */
function recommendedCommand(message: string, words: readonly string[]): string | undefined {
  const recommended = /^Did you mean (.+)\?$/.exec(message)?.[1];
  if (recommended === undefined) return undefined;
  const group = isGroup(words[0]) && words[0] !== recommended ? `${words[0]} ` : "";
  return `unknown command ${group}${words[group ? 1 : 0]}: did you mean ${group}${recommended}?`;
}

/**
 * yargs' choices, over two lines: "Invalid values:\n  Argument: type, Given: "grpc", Choices: "service", "api"".
 * Given as "", a string flag was written without its value.
 */
function invalidChoice(message: string): string | undefined {
  const choice = /Argument: (\S+), Given: (.+), Choices: (.+)$/.exec(message);
  if (!message.startsWith("Invalid values:") || !choice) return undefined;
  const allowed = choice[3]!.split(", ").map((c) => c.replace(/^"|"$/g, ""));
  if (choice[2] === '""') return `--${choice[1]} needs a value: use one of ${allowed.join(", ")}`;
  const note = goMicroChoices[`${choice[1]}=${choice[2]}`];
  return `--${choice[1]} has an invalid value ${choice[2]}: use one of ${allowed.join(", ")}${note ? ` (${note})` : ""}`;
}

/** Values go-micro's `micro new` took that tsmicro spells otherwise, by `flag="value"` as yargs quotes it. */
const goMicroChoices: Readonly<Record<string, string>> = {
  'type="srv"': "go-micro's srv is --type service here",
  'type="fnc"': "tsmicro has no function type; --type service makes a gRPC service",
  // A workspace is a flag of its own, not a type: guessed as one, the usage line alone does not lead to it.
  'type="workspace"': "a workspace of several services is --workspace, with no --type",
};

/** What a command's words are, with an example, by command (`create-tsmicro` for its own): said when some are missing. */
const commandArguments: Record<string, string> = {
  "create-tsmicro": "NAME, such as create-tsmicro user",
  new: "NAME, such as tsmicro new user",
  list: "the word services: tsmicro list services",
  "list services": "no other words",
  get: "service NAME, such as tsmicro get service user",
  "get service": "NAME, such as tsmicro get service user",
  call: "SERVICE METHOD [JSON], such as tsmicro call user UserService.ListUsers '{}'",
  health: "SERVICE, such as tsmicro health user",
  "config set": `PATH VALUE, such as tsmicro config set greeting '"Hi"' --service user`,
  "config del": "PATH, such as tsmicro config del greeting --service user",
  "config import": "FILE, such as tsmicro config import config.yaml --service user",
  "template revert": "DIR NAME, such as tsmicro template revert templates micro.ts.ejs",
};

/** Missing arguments: what the command takes, with an example, and its own help. */
function missingArguments(program: string, message: string, words: readonly string[]): string {
  if (!/^(Not enough non-option arguments|Missing required argument)/.test(message)) return message;
  const command = program === "tsmicro" ? commandOf(words) : program;
  const takes = commandArguments[command];
  if (takes === undefined) return `${message}; see ${helpOf(program)}`;
  const named = program === "tsmicro" ? `tsmicro ${command}` : program;
  return `${named} takes ${takes}; see ${helpOf(program)}`;
}

import { SetupError } from "@tsmicro/runtime/errors";

/** The spellings of one name that a project's files need. */
export interface NameForms {
  /** As given, lower-case words joined by `-`: `user-profile`. */
  readonly kebab: string;
  /** `user_profile`: proto packages and SQL tables. */
  readonly snake: string;
  /** `userProfile`: variables and functions. */
  readonly camel: string;
  /** `UserProfile`: types, messages and services. */
  readonly pascal: string;
}

const validName = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/**
 * Checks a project or service name (`user`, `user-profile`) and returns its
 * spellings. Names become npm package names, proto packages and
 * identifiers, so only lower-case letters, digits and single dashes pass.
 */
export function nameForms(name: string, what: string): NameForms {
  if (!validName.test(name)) {
    throw new SetupError(
      "TSM_ERR_PROJECT_NAME",
      what,
      JSON.stringify(name),
      "use lower-case letters and digits, words joined by single dashes, starting with a letter (such as user or user-profile)",
    );
  }
  const words = name.split("-");
  const pascal = words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join("");
  return { kebab: name, snake: words.join("_"), camel: pascal[0]!.toLowerCase() + pascal.slice(1), pascal };
}

/** `CreateUser` -> `create-user`, `ListHTTPRoutes` -> `list-http-routes`: per-method file names. */
export function kebabOf(identifier: string): string {
  return identifier
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1-$2")
    .replace(/_/g, "-")
    .toLowerCase();
}

/**
 * Words JavaScript modules (strict mode) refuse as a variable or function name, and
 * `arguments`/`eval`, which they refuse to bind: `rpc Delete` and `message Package` are
 * common, and their lower-camel names are these.
 */
const reservedWords = new Set(
  (
    "await break case catch class const continue debugger default delete do else enum export extends false " +
    "finally for function if implements import in instanceof interface let new null package private protected " +
    "public return static super switch this throw true try typeof var void while with yield arguments eval"
  ).split(" "),
);

/** `name` as a variable or function name: a reserved word gets a `$` (`delete$`), as unsafe properties do. */
export function identifierOf(name: string): string {
  return reservedWords.has(name) ? `${name}$` : name;
}

/** `CreateUser` -> `createUser`: the method's name on generated handlers and clients. */
export function lowerFirst(identifier: string): string {
  return identifier[0]!.toLowerCase() + identifier.slice(1);
}

/** English plural of a PascalCase noun, good enough for `List<Plural>` rpcs: User -> Users, Category -> Categories. */
export function plural(noun: string): string {
  if (/[^aeiou]y$/.test(noun)) return `${noun.slice(0, -1)}ies`;
  if (/(s|x|z|ch|sh)$/.test(noun)) return `${noun}es`;
  return `${noun}s`;
}

/**
 * The indefinite article before `noun` (`a user`, `an order`), by its first
 * letters: a vowel takes `an`, except a `u` or `eu` said "you" (`a user`,
 * `a unit`: u, a consonant, a vowel); `an upload`, `an umbrella`.
 */
export function articleOf(noun: string): "a" | "an" {
  const word = noun.toLowerCase();
  if (/^(u[^aeiou][aeiou]|eu|one)/.test(word)) return "a";
  return /^[aeiou]/.test(word) ? "an" : "a";
}

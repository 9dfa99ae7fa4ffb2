/** A service as a generated `x.micro.ts` declares it. */
export interface GeneratedService {
  /** `user.v1.UserService`: the name every method's path starts with. */
  readonly fullName: string;
  /** `UserService`. */
  readonly name: string;
  /** The proto that declares it, relative to the proto folder: `user/v1/user.proto`. */
  readonly proto: string;
  /** Its methods' names, in the proto's order. */
  readonly methods: readonly string[];
}

/** A service of the last generated code that the protos now call by another full name. */
export interface RenamedService {
  readonly from: GeneratedService;
  readonly to: GeneratedService;
}

/**
 * The services the generated `*.micro.ts` files among `files` declare (names relative to the
 * folder of generated files), read from their definitions: the previous run's files on disk, or
 * this run's output, compared the same way.
 */
export function generatedServices(
  files: readonly { readonly name: string; readonly content: string }[],
): GeneratedService[] {
  const services: GeneratedService[] = [];
  for (const file of files) {
    if (!file.name.endsWith(".micro.ts")) continue;
    const proto =
      / from (\S+\.proto)\. DO NOT EDIT\./.exec(file.content)?.[1] ?? file.name.replace(/\.micro\.ts$/, ".proto");
    for (const [, name, fullName] of file.content.matchAll(
      /^export const (\w+)Definition = \{\s*typeName: "([\w.]+)"/gm,
    )) {
      const paths = file.content.matchAll(new RegExp(`path: "/${escaped(fullName!)}/(\\w+)"`, "g"));
      services.push({ fullName: fullName!, name: name!, proto, methods: [...new Set([...paths].map((m) => m[1]!))] });
    }
  }
  return services;
}

/**
 * The services of `before` gone from `after` that `after` calls by another name: the one new
 * service of the same name (its package changed: `user.v1.UserService` became
 * `users.v1.UserService`), else, when its proto lost that one service and gained one, that one
 * (`UserService` became `AccountService`). Every method's path is the full name's, so callers
 * built on the old one get UNIMPLEMENTED, which nothing else would say.
 */
export function renamedServices(
  before: readonly GeneratedService[],
  after: readonly GeneratedService[],
): RenamedService[] {
  const named = (list: readonly GeneratedService[], s: GeneratedService) => list.some((o) => o.fullName === s.fullName);
  const gone = before.filter((s) => !named(after, s));
  const added = after.filter((s) => !named(before, s));
  const renamed: RenamedService[] = [];
  for (const from of gone) {
    const sameName = added.filter((s) => s.name === from.name);
    const inFile = (list: readonly GeneratedService[]) => list.filter((s) => s.proto === from.proto);
    const sameFile = inFile(gone).length === 1 ? inFile(added) : [];
    const to = sameName.length === 1 ? sameName[0] : sameFile.length === 1 ? sameFile[0] : undefined;
    if (to !== undefined && !renamed.some((r) => r.to === to)) renamed.push({ from, to });
  }
  return renamed;
}

/**
 * The line saying a service's full name changed, what that does to its callers, and what to do. A
 * package changed is certain; a service of another name in its place is a rename most likely, and
 * said so.
 */
export function renamedLine({ from, to }: RenamedService, protoDir: string): string {
  const samePackage = packageOf(from) === packageOf(to);
  const what = samePackage ? "name" : from.name === to.name ? "package" : "package and name";
  const where =
    from.proto === to.proto ? `${protoDir}/${to.proto}` : `${protoDir}/${from.proto}, now ${protoDir}/${to.proto}`;
  const method = to.methods.find((m) => from.methods.includes(m)) ?? to.methods[0];
  const example = method === undefined ? "" : ` (/${from.fullName}/${method} is now /${to.fullName}/${method})`;
  const change =
    from.name === to.name
      ? `service ${from.fullName} is now ${to.fullName} (its package changed in ${where}): `
      : `service ${from.fullName} is gone and ${to.fullName} is new in ${where}, a rename most likely: if so, `;
  return (
    `${change}every method's path changed with it${example}, so a caller built on the old name gets ` +
    `UNIMPLEMENTED until it is regenerated from this proto; if callers you cannot regenerate use it, keep the old ${what}`
  );
}

function packageOf(service: GeneratedService): string {
  return service.fullName.slice(0, service.fullName.length - service.name.length - 1);
}

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** One named import as the template prints it. */
export interface ImportName {
  readonly name: string;
  /** The local name, when it differs from `name`. */
  readonly alias: string | undefined;
  readonly typeOnly: boolean;
}

/** All names imported from one module. */
export interface ImportStatement {
  readonly from: string;
  readonly names: readonly ImportName[];
}

/**
 * Collects the imports of one generated file. A name that would collide
 * with one already in scope (the file's own exports, a global it uses, or
 * an import from another module) is imported under an alias.
 */
export class ImportCollector {
  private readonly taken: Set<string>;
  private readonly byModule = new Map<string, Map<string, { alias: string | undefined; typeOnly: boolean }>>();

  constructor(reserved: Iterable<string>) {
    this.taken = new Set(reserved);
  }

  /** Imports `name` from `from` and returns the identifier to use for it. */
  use(from: string, name: string, typeOnly: boolean): string {
    let names = this.byModule.get(from);
    if (!names) {
      names = new Map();
      this.byModule.set(from, names);
    }
    const existing = names.get(name);
    if (existing) {
      if (!typeOnly) existing.typeOnly = false;
      return existing.alias ?? name;
    }
    const alias = this.taken.has(name) ? this.freeAlias(name) : undefined;
    this.taken.add(alias ?? name);
    names.set(name, { alias, typeOnly });
    return alias ?? name;
  }

  /** The import statements, sorted by module then name, for stable output. */
  statements(): ImportStatement[] {
    return [...this.byModule]
      .sort(([a], [b]) => compareModules(a, b))
      .map(([from, names]) => ({
        from,
        names: [...names]
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([name, { alias, typeOnly }]) => ({ name, alias, typeOnly })),
      }));
  }

  private freeAlias(name: string): string {
    for (let n = 1; ; n++) {
      const candidate = n === 1 ? `${name}Message` : `${name}Message${n}`;
      if (!this.taken.has(candidate)) return candidate;
    }
  }
}

/** Package imports first, then relative ones. */
function compareModules(a: string, b: string): number {
  const relA = a.startsWith(".");
  const relB = b.startsWith(".");
  if (relA !== relB) return relA ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

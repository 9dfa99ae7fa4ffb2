/**
 * Where a key path is written in a YAML document, for messages naming
 * `config.yaml:12:3`, read from the positions the yaml package keeps in the
 * document it parsed. Imported with yaml, only when a YAML file is read.
 */
import { type Document, isAlias, isMap, isScalar, isSeq, type Node, type Pair, visit, type YAMLMap } from "yaml";

/**
 * The offset in the document's text of the deepest part of `segments` it holds: a key, or a list's
 * item for an index. Undefined when not even the first is there. Through an alias (`database: *shared`)
 * or a merge (`<<: *defaults`), a key is found where it is written, under the anchor: that is the text to edit.
 */
export function yamlKeyOffset(document: Document, segments: readonly string[]): number | undefined {
  let node: unknown = document.contents;
  let found: number | undefined;
  for (const segment of segments) {
    const resolved = resolve(document, node);
    const step = isMap(resolved)
      ? memberOf(document, resolved.items, segment)
      : isSeq(resolved)
        ? itemOf(resolved.items, segment)
        : undefined;
    if (!step) break;
    found = step.written;
    node = step.node;
  }
  return found;
}

/** Where a part of the path is written, and the node it leads to. */
interface Step {
  readonly written: number;
  readonly node: unknown;
}

/**
 * The member named `key` of a map's pairs, the key as toJS names it (`1:` and `true:` are "1" and "true"):
 * its own pair, else the first map merged into it that has one, as yaml merges them.
 */
function memberOf(document: Document, pairs: readonly Pair<unknown, unknown>[], key: string): Step | undefined {
  const pair = pairs.find((one) => !isMergeKey(one.key) && isScalar(one.key) && String(one.key.value) === key);
  const start = (pair?.key as Node | undefined)?.range?.[0];
  if (pair && start !== undefined) return { written: start, node: pair.value };
  for (const merged of pairs.filter((one) => isMergeKey(one.key)).flatMap((one) => mergedMaps(document, one.value))) {
    const step = memberOf(document, merged.items, key);
    if (step) return step;
  }
  return undefined;
}

/** The maps a merge key's value names, in the order yaml merges them: one map, or a list of them. */
function mergedMaps(document: Document, value: unknown): YAMLMap<unknown, unknown>[] {
  return mergeSources(document, value).filter((source) => isMap(source));
}

/** What a merge key's value names, through aliases: one node, or each item of a list. */
function mergeSources(document: Document, value: unknown): unknown[] {
  const resolved = resolve(document, value);
  return (isSeq(resolved) ? resolved.items : [resolved]).map((source) => resolve(document, source));
}

/** A merge key: yaml reads a plain `<<` key as a symbol when merge keys are on, and nothing else so. */
function isMergeKey(key: unknown): boolean {
  return isScalar(key) && typeof key.value === "symbol";
}

/** The node an alias stands for; any other node itself. */
function resolve(document: Document, node: unknown): unknown {
  return isAlias(node) ? node.resolve(document) : node;
}

/** What a document's toJS failed on, where it is written and what to do. */
export interface ToJsProblem {
  readonly offset: number;
  readonly reason: string;
}

/**
 * Why yaml's toJS throws on `document`, which it accepted when parsing: it says neither where nor,
 * mostly, what to do. Undefined for any other reason (aliases expanding past yaml's limit).
 */
export function toJsProblem(document: Document): ToJsProblem | undefined {
  const merge = badMergeOffset(document);
  if (merge !== undefined)
    return {
      offset: merge,
      reason: "a merge key (<<) must name a mapping or a list of mappings, such as <<: *defaults",
    };
  const circular = circularMergeOffset(document);
  if (circular !== undefined)
    return {
      offset: circular,
      reason:
        "this merge key (<<) names a mapping that holds it, so the setting would hold itself without end; write the value out instead",
    };
  const unresolved = unresolvedAlias(document);
  if (unresolved !== undefined)
    return {
      offset: unresolved.offset,
      reason: `*${unresolved.name} names no anchor set before it: set &${unresolved.name} above this alias`,
    };
  return undefined;
}

/** The first alias naming no anchor before it (`b: *c` above `c: &c …`), which yaml's toJS throws on. */
function unresolvedAlias(document: Document): { readonly offset: number; readonly name: string } | undefined {
  let found: { offset: number; name: string } | undefined;
  visit(document, {
    Alias(_key, alias) {
      const offset = alias.range?.[0];
      if (alias.resolve(document) !== undefined || offset === undefined) return undefined;
      found = { offset, name: alias.source };
      return visit.BREAK;
    },
  });
  return found;
}

/**
 * The offset of the first merge key whose value is not a map or a list of maps (`<<: 5`), which
 * yaml's toJS throws on without saying where.
 */
function badMergeOffset(document: Document): number | undefined {
  let found: number | undefined;
  visit(document, {
    Pair(_key, pair) {
      if (!isMergeKey(pair.key) || mergeSources(document, pair.value).every((source) => isMap(source)))
        return undefined;
      found = (pair.key as Node).range?.[0];
      return visit.BREAK;
    },
  });
  return found;
}

/**
 * The offset of the first merge key naming a map that holds the map the key is in (`a: &a {x: 1, <<: *a}`,
 * `a: &a {b: {<<: *a}}`): yaml's toJS merges it again and again until its alias count gives up, saying
 * neither where nor what to do.
 */
function circularMergeOffset(document: Document): number | undefined {
  let found: number | undefined;
  visit(document, {
    Map(_key, map) {
      const merge = map.items.find(
        (pair) =>
          isMergeKey(pair.key) && mergeSources(document, pair.value).some((source) => reaches(document, source, map)),
      );
      if (merge === undefined) return undefined;
      found = (merge.key as Node).range?.[0];
      return visit.BREAK;
    },
  });
  return found;
}

/** Whether `target` is `from` or inside it, through aliases. */
function reaches(document: Document, from: unknown, target: unknown): boolean {
  const seen = new Set<unknown>();
  const pending = [from];
  while (pending.length > 0) {
    const node = resolve(document, pending.pop());
    if (node === target) return true;
    if (seen.has(node)) continue;
    seen.add(node);
    if (isMap(node)) pending.push(...node.items.map((pair) => pair.value));
    else if (isSeq(node)) pending.push(...node.items);
  }
  return false;
}

/** The item at index `segment` of a list's items. */
function itemOf(items: readonly unknown[], segment: string): Step | undefined {
  if (!/^\d+$/.test(segment)) return undefined;
  const item = items[Number(segment)];
  const start = (item as Node | undefined)?.range?.[0];
  return start === undefined ? undefined : { written: start, node: item };
}

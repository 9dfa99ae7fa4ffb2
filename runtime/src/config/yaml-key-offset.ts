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

/**
 * The offset of the first merge key whose value is not a map or a list of maps (`<<: 5`), which
 * yaml's toJS throws on without saying where.
 */
export function badMergeOffset(document: Document): number | undefined {
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

/** The item at index `segment` of a list's items. */
function itemOf(items: readonly unknown[], segment: string): Step | undefined {
  if (!/^\d+$/.test(segment)) return undefined;
  const item = items[Number(segment)];
  const start = (item as Node | undefined)?.range?.[0];
  return start === undefined ? undefined : { written: start, node: item };
}

/**
 * Where a key path is written in a YAML document, for messages naming
 * `config.yaml:12:3`, read from the positions the yaml package keeps in the
 * document it parsed. Imported with yaml, only when a YAML file is read.
 */
import { type Document, isAlias, isMap, isScalar, isSeq, type Node, type Pair } from "yaml";

/**
 * The offset in the document's text of the deepest part of `segments` it holds: a key, or a list's
 * item for an index. Undefined when not even the first is there. Through an alias (`database: *shared`),
 * a key is found where it is written, under the anchor: that is the text to edit.
 */
export function yamlKeyOffset(document: Document, segments: readonly string[]): number | undefined {
  let node: unknown = document.contents;
  let found: number | undefined;
  for (const segment of segments) {
    const resolved = isAlias(node) ? node.resolve(document) : node;
    const step = isMap(resolved)
      ? memberOf(resolved.items, segment)
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

/** The member named `key` of a map's pairs; the key as toJS names it (`1:` and `true:` are "1" and "true"). */
function memberOf(pairs: readonly Pair<unknown, unknown>[], key: string): Step | undefined {
  const pair = pairs.find((one) => isScalar(one.key) && String(one.key.value) === key);
  const start = (pair?.key as Node | undefined)?.range?.[0];
  return pair && start !== undefined ? { written: start, node: pair.value } : undefined;
}

/** The item at index `segment` of a list's items. */
function itemOf(items: readonly unknown[], segment: string): Step | undefined {
  if (!/^\d+$/.test(segment)) return undefined;
  const item = items[Number(segment)];
  const start = (item as Node | undefined)?.range?.[0];
  return start === undefined ? undefined : { written: start, node: item };
}

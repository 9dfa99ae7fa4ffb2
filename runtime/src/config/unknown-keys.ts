/**
 * Keys the sources set that the schema does not read. A `z.object` drops
 * them, so `prot: 9090` written for `port` would leave the default without
 * a word. They are found by comparing what the sources gave with what the
 * schema returned, which works with any Standard Schema validator: a key
 * the output lacks was not read. A level the schema returned as something
 * other than an object (a transform) is not compared, nor are lists.
 */
import { closestName } from "../errors/closest-name.js";
import type { ConfigTree } from "./config.js";
import { formatPath, isConfigTree } from "./key-paths.js";
import type { Layer } from "./merge-layers.js";

/** A key no setting of the schema reads, where it was set, and the setting it is most likely a slip of. */
export interface UnknownKey {
  /** Its dotted path, such as `page.sise`. */
  readonly path: string;
  /** Where it was set: `file config.yaml`, `etcd /micro/config/user/page/sise`. */
  readonly where: string;
  /** The setting beside it it is one or two edits from, such as `page.size`. */
  readonly meant: string | undefined;
}

/**
 * The keys of `tree` (the merged sources) that `value` (the schema's output) left out, each once at the
 * highest level it is unknown at. Keys from a source that holds others' keys too (env) are not listed.
 */
export function unknownKeys(tree: ConfigTree, value: unknown, origins: ReadonlyMap<string, Layer>): UnknownKey[] {
  const found: UnknownKey[] = [];
  const compare = (input: ConfigTree, output: unknown, prefix: readonly string[]): void => {
    if (!isConfigTree(output)) return;
    for (const [key, inner] of Object.entries(input)) {
      const segments = [...prefix, key];
      if (Object.hasOwn(output, key)) {
        if (isConfigTree(inner)) compare(inner, output[key], segments);
        continue;
      }
      const layer = origins.get(segments.join("."));
      if (!layer || layer.source.holdsOthersKeys) continue;
      found.push({
        path: formatPath(segments),
        where: layer.source.locate?.(segments) ?? layer.source.name,
        meant: meantPath(prefix, closestName(key, Object.keys(output))),
      });
    }
  };
  compare(tree, value, []);
  return found;
}

function meantPath(prefix: readonly string[], key: string | undefined): string | undefined {
  return key === undefined ? undefined : formatPath([...prefix, key]);
}

/** The warning for an unknown key: `file config.yaml sets prot, which the schema does not read; did you mean port?`. */
export function describeUnknownKey(key: UnknownKey): string {
  const meant = key.meant === undefined ? "" : `; did you mean ${key.meant}?`;
  return `${key.where} sets ${key.path}, which the configuration's schema does not read, so it has no effect${meant}`;
}

/**
 * Keys the sources set that the schema does not read. A `z.object` drops
 * them, so `prot: 9090` written for `port` would leave the default without
 * a word. They are found by comparing what the sources gave with what the
 * schema returned, which works with any Standard Schema validator: a key
 * the output lacks was not read. A level the schema returned as something
 * other than an object (a transform) is not compared, nor is a list the
 * schema returned with another length (a filter): its items no longer pair.
 */
import { closestName } from "../errors/closest-name.js";
import type { ConfigTree } from "./config.js";
import { formatPath, isConfigTree } from "./key-paths.js";
import type { Layer } from "./merge-layers.js";

/** A key no setting of the schema reads, where it was set, and the setting it is most likely a slip of. */
export interface UnknownKey {
  /** Its dotted path, such as `page.sise` or `servers[0].hots`. */
  readonly path: string;
  /** Where it was set: `config.yaml:3:3`, `etcd /micro/config/user/page/sise`. */
  readonly where: string;
  /** The setting beside it it is one or two edits from, such as `page.size`. */
  readonly meant: string | undefined;
}

/** A layer that sets something at the level being compared, and what it sets there. */
interface Setter {
  readonly layer: Layer;
  readonly value: unknown;
}

/** Where the comparison is: the key path, and the part of it a source stores as one key (up to a list). */
interface Place {
  readonly segments: readonly string[];
  readonly stored: readonly string[] | undefined;
}

/**
 * The keys of `tree` (the merged `layers`) that `value` (the schema's output) left out, each once at the
 * highest level it is unknown at, in lists of objects too. A key is named after the last layer setting it
 * that is checked: layers that hold others' keys too (env) are not, so a slip in a file is still named
 * when an environment variable sets a key beside it.
 */
export function unknownKeys(tree: ConfigTree, value: unknown, layers: readonly Layer[]): UnknownKey[] {
  const found: UnknownKey[] = [];
  const compare = (input: unknown, output: unknown, place: Place, setters: readonly Setter[]): void => {
    if (Array.isArray(input)) compareItems(input, output, place, setters);
    if (!isConfigTree(input) || !isConfigTree(output)) return;
    for (const [key, inner] of Object.entries(input)) {
      const below: Place = { segments: [...place.segments, key], stored: place.stored };
      const settersBelow = settersOf(setters, key);
      if (Object.hasOwn(output, key)) {
        compare(inner, output[key], below, settersBelow);
        continue;
      }
      const setter = settersBelow.findLast((one) => !one.layer.source.holdsOthersKeys);
      if (setter) found.push(unknownKey(below, setter.layer, closestName(key, Object.keys(output))));
    }
  };
  // A list replaces whatever the layers before set, so the last layer setting it set each of its items.
  const compareItems = (input: unknown[], output: unknown, place: Place, setters: readonly Setter[]): void => {
    const setter = setters.at(-1);
    const items: unknown = setter?.value;
    if (!setter || !Array.isArray(output) || output.length !== input.length || !Array.isArray(items)) return;
    const stored = place.stored ?? place.segments;
    input.forEach((item, index) => {
      const segments = [...place.segments, String(index)];
      compare(item, output[index], { segments, stored }, [{ layer: setter.layer, value: items[index] }]);
    });
  };
  compare(
    tree,
    value,
    { segments: [], stored: undefined },
    layers.map((layer) => ({ layer, value: layer.tree })),
  );
  return found;
}

/** The layers among `setters` that set `key` inside what they set, with what they set it to. */
function settersOf(setters: readonly Setter[], key: string): Setter[] {
  return setters.flatMap(({ layer, value }) =>
    isConfigTree(value) && Object.hasOwn(value, key) ? [{ layer, value: value[key] }] : [],
  );
}

/**
 * The unknown key at `place`, set by `layer`; inside a list, the source is asked about the key holding
 * the list, with the rest of the path for a source that can point into the list (a file's line).
 */
function unknownKey(place: Place, layer: Layer, meant: string | undefined): UnknownKey {
  const prefix = place.segments.slice(0, -1);
  const stored = place.stored ?? place.segments;
  return {
    path: formatPath(place.segments),
    where: layer.source.locate?.(stored, place.segments.slice(stored.length)) ?? layer.source.name,
    meant: meant === undefined ? undefined : formatPath([...prefix, meant]),
  };
}

/** The warning for an unknown key: `config.yaml:3:1 sets prot, which the schema does not read; did you mean port?`. */
export function describeUnknownKey(key: UnknownKey): string {
  const meant = key.meant === undefined ? "" : `; did you mean ${key.meant}?`;
  return `${key.where} sets ${key.path}, which the configuration's schema does not read, so it has no effect${meant}`;
}

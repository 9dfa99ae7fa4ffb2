/**
 * "Did you mean": the known name a mistyped one is most likely a slip of,
 * for error messages that name the flag or command meant.
 */

/**
 * The known name `name` is most likely a slip of: one or two edits away (one for short names), as
 * written or with `-` for `_` (a flag's dashes), so a name with dashes of its own (a file's, a
 * package's) is measured as it is.
 */
export function closestName(name: string, names: Iterable<string>): string | undefined {
  const known = [...names];
  const snake = name.replaceAll("-", "_");
  if (known.includes(snake)) return snake;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const allowed = candidate.length >= 8 ? 2 : 1;
    const distance = Math.min(editDistance(snake, candidate, allowed), editDistance(name, candidate, allowed));
    if (distance <= allowed && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance with transpositions, or `limit + 1` as soon as it is surely more than `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j]!, before[j - 2]! + 1);
    }
    if (Math.min(...row) > limit) return limit + 1;
    before = previous;
    previous = row;
  }
  return previous[b.length]!;
}

/** Anything subscribed to a topic, in or out of a queue group. */
export interface Subscriber {
  readonly queue: string | undefined;
}

/**
 * The subscribers one message goes to: every plain subscriber (fan-out) and
 * one member of each queue group, the one at index `pick(queue, size)` of
 * that group's members. Shared by the backends that route messages themselves.
 */
export function pickPerQueue<T extends Subscriber>(
  subscribers: readonly T[],
  pick: (queue: string, size: number) => number,
): T[] {
  const { plain, groups } = groupByQueue(subscribers);
  const chosen = [...plain];
  for (const [queue, members] of groups) {
    const member = members[pick(queue, members.length)];
    if (member) chosen.push(member);
  }
  return chosen;
}

/** The members of each queue group and the plain subscribers, for a backend that tries a group's members in turn. */
export function groupByQueue<T extends Subscriber>(
  subscribers: readonly T[],
): { plain: T[]; groups: Map<string, T[]> } {
  const plain: T[] = [];
  const groups = new Map<string, T[]>();
  for (const subscriber of subscribers) {
    if (subscriber.queue === undefined) plain.push(subscriber);
    else groups.set(subscriber.queue, [...(groups.get(subscriber.queue) ?? []), subscriber]);
  }
  return { plain, groups };
}

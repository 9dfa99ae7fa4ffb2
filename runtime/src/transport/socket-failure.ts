/** What a socket failure means for the node at the other end, by errno; undefined for other codes. */
export function socketMeaning(code: unknown): string | undefined {
  return typeof code === "string" ? socketMeanings[code] : undefined;
}

const socketMeanings: Readonly<Record<string, string>> = {
  ECONNREFUSED: "nothing listens there (the node may have died without deregistering)",
  ECONNRESET: "the connection was reset (the node may have crashed or restarted)",
  EHOSTUNREACH: "the host cannot be reached from this machine",
  ENETUNREACH: "the network cannot be reached from this machine",
  ETIMEDOUT: "connecting timed out",
};

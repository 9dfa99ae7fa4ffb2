/**
 * Headers whose value is new on every call, sent without HPACK indexing by both clients: indexed,
 * each call's deadline and trace ids would take room in the session's header table and push out
 * the headers that repeat (content type, user agent, metadata), which then go out in full again.
 */
export const perCallHeaders = ["grpc-timeout", "traceparent", "tracestate"];

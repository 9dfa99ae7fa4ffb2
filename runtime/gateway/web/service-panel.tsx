import { useEffect, useState } from "preact/hooks";
import {
  type CallResult,
  callMethod,
  type EventView,
  getJson,
  type Info,
  type MethodView,
  methodName,
  type ServiceDetails,
  type ServiceView,
} from "./api";
import { healthClass } from "./node-health";

/** Pretty JSON for the page. */
function pretty(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** One service: its versions and nodes, then its methods, each with a call form for unary ones, then its events. */
export function ServicePanel(props: { name: string; versions: readonly ServiceView[]; info: Info }) {
  const { name, versions, info } = props;
  const [details, setDetails] = useState<ServiceDetails | undefined>();
  const [error, setError] = useState<string | undefined>();
  const nodeIds = versions.flatMap((v) => v.nodes.map((n) => n.id)).join(",");
  // Methods come from reflection on a node: read again when the nodes change (a new version may differ).
  useEffect(() => {
    getJson<ServiceDetails>(`api/services/${encodeURIComponent(name)}`).then(
      (service) => {
        setDetails(service);
        setError(undefined);
      },
      (e: Error) => setError(e.message),
    );
  }, [name, nodeIds]);
  return (
    <section data-testid="service-panel">
      <h2>{name}</h2>
      {versions.map((version) => (
        <div key={version.version}>
          <h3>
            version <span class="mono">{version.version || "(none)"}</span>
          </h3>
          <table>
            <thead>
              <tr>
                <th>Node</th>
                <th>Address</th>
                <th>Health</th>
                <th>Metadata</th>
              </tr>
            </thead>
            <tbody>
              {version.nodes.map((node) => (
                <tr key={node.id} data-testid={`node-${node.id}`}>
                  <td class="mono">{node.id}</td>
                  <td class="mono">{node.address}</td>
                  <td>
                    <span class={`badge ${healthClass(node.health)}`}>{node.health}</span>
                  </td>
                  <td class="mono small">
                    {Object.entries(node.metadata)
                      .map(([k, v]) => `${k}=${String(v)}`)
                      .join(" ")}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
      <h3>Methods</h3>
      {error && <p class="error">{error}</p>}
      {details?.noMethods && (
        <p class={details.noMethods.failed ? "error" : "muted"} data-testid="no-methods">
          {details.noMethods.reason}
        </p>
      )}
      {details?.methods.map((method) => (
        <Method key={method.rpc} service={name} method={method} info={info} />
      ))}
      {details && details.events.length > 0 && <Events events={details.events} />}
    </section>
  );
}

/** The events the service subscribes to (on which broker, in which queue group) and publishes. */
function Events(props: { events: readonly EventView[] }) {
  return (
    <>
      <h3>Events</h3>
      <table data-testid="events">
        <thead>
          <tr>
            <th>Event</th>
            <th>Topic</th>
            <th>Message</th>
            <th>Role</th>
            <th>Queue</th>
            <th>Broker</th>
          </tr>
        </thead>
        <tbody>
          {props.events.map((event) => (
            <tr key={`${event.role} ${event.event} ${event.queue}`} data-testid={`event-${event.topic}`}>
              <td class="mono">{event.event}</td>
              <td class="mono">{event.topic}</td>
              <td class="mono">{event.message}</td>
              <td>{event.role}</td>
              <td class="mono">{event.role === "subscribes" ? (event.queue ?? "every node") : ""}</td>
              <td class="mono">{event.broker ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function Method(props: { service: string; method: MethodView; info: Info }) {
  const { service, method, info } = props;
  const [open, setOpen] = useState(false);
  const short = method.rpc.split(".").slice(-2).join(".");
  return (
    <div class="method" data-testid={`method-${short}`}>
      <button type="button" class="method-head" onClick={() => setOpen(!open)} aria-expanded={open}>
        <span class="mono">{methodName(method.rpc)}</span>
        <span class="muted small">
          {method.kind} · {method.request} → {method.response}
        </span>
      </button>
      {open && (
        <div class="method-body">
          {method.routes.length > 0 && <p class="mono small">{method.routes.join("  ·  ")}</p>}
          <div class="shapes">
            <div>
              <h4>Request</h4>
              <pre>{pretty(method.requestShape)}</pre>
            </div>
            <div>
              <h4>Response</h4>
              <pre>{pretty(method.responseShape)}</pre>
            </div>
          </div>
          {method.kind === "unary" && <CallForm service={service} method={method} info={info} />}
        </div>
      )}
    </div>
  );
}

/** A failure's message, then a typed error's reason and metadata as `tsmicro call` prints them: ` (reason USER_NOT_FOUND, id=7)`. */
function failureText(outcome: CallResult): string {
  const { reason } = outcome;
  if (!reason) return outcome.message ?? "";
  const metadata = Object.entries(reason.metadata).map(([key, value]) => `, ${key}=${value}`);
  return `${outcome.message ?? ""} (reason ${reason.reason}${metadata.join("")})`;
}

function CallForm(props: { service: string; method: MethodView; info: Info }) {
  const { service, method, info } = props;
  const [request, setRequest] = useState(pretty(method.requestShape));
  const [token, setToken] = useState(sessionStorage.getItem("tsmicro-token") ?? "");
  const [jwt, setJwt] = useState(sessionStorage.getItem("tsmicro-jwt") ?? "");
  const [outcome, setOutcome] = useState<CallResult | undefined>();
  const [busy, setBusy] = useState(false);
  if (info.calls === "off")
    return <p class="muted">Calls are off: this dashboard listens beyond loopback (see --dashboard_calls).</p>;
  const call = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    sessionStorage.setItem("tsmicro-token", token);
    sessionStorage.setItem("tsmicro-jwt", jwt);
    try {
      setOutcome(await callMethod(service, method.rpc, request, token, jwt.trim().replace(/^Bearer\s+/i, "")));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="call" onSubmit={call}>
      <label>
        Request (proto3 JSON)
        <textarea
          data-testid="call-request"
          rows={Math.min(12, request.split("\n").length + 1)}
          value={request}
          onInput={(e) => setRequest((e.target as HTMLTextAreaElement).value)}
        />
      </label>
      {info.calls === "token" && (
        <label>
          Dashboard token
          <input
            data-testid="call-token"
            type="password"
            autocomplete="off"
            value={token}
            onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          />
        </label>
      )}
      {info.jwt && (
        <label>
          Bearer token (JWT; optional, for methods whose route rules need one)
          <input
            data-testid="call-jwt"
            type="password"
            autocomplete="off"
            value={jwt}
            onInput={(e) => setJwt((e.target as HTMLInputElement).value)}
          />
        </label>
      )}
      <button type="submit" data-testid="call-button" disabled={busy}>
        {busy ? "Calling…" : "Call"}
      </button>
      {outcome && (
        <div class="outcome" data-testid="call-result">
          <p>
            <span class={outcome.code === 0 ? "badge ok" : "badge bad"} data-testid="call-status">
              {outcome.status}
            </span>{" "}
            {outcome.latencyMs !== undefined && <span class="muted">{outcome.latencyMs.toFixed(1)} ms</span>}{" "}
            {outcome.traceId && (
              <span class="mono small" data-testid="call-trace">
                trace {outcome.traceId}
              </span>
            )}
          </p>
          <pre data-testid="call-response">{outcome.code === 0 ? pretty(outcome.response) : failureText(outcome)}</pre>
        </div>
      )}
    </form>
  );
}

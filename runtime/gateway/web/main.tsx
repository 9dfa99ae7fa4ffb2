import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import {
  type BreakerView,
  getJson,
  type Info,
  type MethodStats,
  methodName,
  type RouteView,
  type ServiceView,
} from "./api";
import { healthClass } from "./node-health";
import { ServicePanel } from "./service-panel";
import { Charts } from "./charts";

/** The live state the server pushes over `api/events`. */
interface Live {
  readonly connected: boolean;
  readonly services: readonly ServiceView[];
  readonly stats: readonly MethodStats[];
  readonly breakers: readonly BreakerView[];
  /** Why the registry cannot be read, while it cannot. */
  readonly registryError: string | null;
}

function useLive(): Live {
  const [live, setLive] = useState<Live>({
    connected: false,
    services: [],
    stats: [],
    breakers: [],
    registryError: null,
  });
  useEffect(() => {
    // EventSource reconnects by itself when the server goes away and comes back.
    const events = new EventSource("api/events");
    events.onopen = () => setLive((l) => ({ ...l, connected: true }));
    events.onerror = () => setLive((l) => ({ ...l, connected: false }));
    events.addEventListener("services", (e) => {
      const { services } = JSON.parse((e as MessageEvent<string>).data) as { services: ServiceView[] };
      setLive((l) => ({ ...l, services }));
    });
    events.addEventListener("registry", (e) => {
      const { error } = JSON.parse((e as MessageEvent<string>).data) as { error: string | null };
      setLive((l) => ({ ...l, registryError: error }));
    });
    events.addEventListener("stats", (e) => {
      const { methods, breakers } = JSON.parse((e as MessageEvent<string>).data) as {
        methods: MethodStats[];
        breakers: BreakerView[];
      };
      setLive((l) => ({ ...l, stats: methods, breakers }));
    });
    return () => events.close();
  }, []);
  return live;
}

/** Groups the versions of each service under its name. */
function byName(services: readonly ServiceView[]): Map<string, ServiceView[]> {
  const names = new Map<string, ServiceView[]>();
  for (const service of services) names.set(service.name, [...(names.get(service.name) ?? []), service]);
  return names;
}

function App() {
  const live = useLive();
  const [info, setInfo] = useState<Info | undefined>();
  const [routes, setRoutes] = useState<readonly RouteView[]>([]);
  const [selected, setSelected] = useState<string | undefined>();
  const services = byName(live.services);
  useEffect(() => {
    void getJson<Info>("api/info").then(setInfo);
  }, []);
  // The routes follow the services that serve them.
  useEffect(() => {
    void getJson<RouteView[]>("api/routes").then(setRoutes, () => setRoutes([]));
  }, [live.services]);
  const current = selected !== undefined && services.has(selected) ? selected : [...services.keys()][0];
  return (
    <>
      <header>
        <h1>tsmicro</h1>
        <span class="muted">registry: {info?.registry ?? "…"}</span>
        <span class={live.connected ? "badge ok" : "badge bad"} data-testid="connection">
          {live.connected ? "live" : "disconnected"}
        </span>
      </header>
      {live.registryError && (
        <p class="banner" role="alert" data-testid="registry-error">
          The registry does not answer: {live.registryError}. The services below are as last seen.
        </p>
      )}
      <main>
        <nav aria-label="Services">
          <h2>Services</h2>
          {services.size === 0 && <p class="muted">No services registered.</p>}
          <ul>
            {[...services].map(([name, versions]) => {
              const nodes = versions.flatMap((v) => v.nodes);
              return (
                <li key={name}>
                  <button
                    type="button"
                    class={name === current ? "service selected" : "service"}
                    data-testid={`service-${name}`}
                    onClick={() => setSelected(name)}
                  >
                    <span class="service-name">{name}</span>
                    <span class="dots">
                      {nodes.map((node) => (
                        <span
                          key={node.id}
                          class={`dot ${healthClass(node.health)}`}
                          title={`${node.id}: ${node.health}`}
                        />
                      ))}
                    </span>
                  </button>
                </li>
              );
            })}
          </ul>
        </nav>
        <section class="content">
          {current !== undefined && info && (
            <ServicePanel key={current} name={current} versions={services.get(current) ?? []} info={info} />
          )}
          <Charts stats={live.stats} breakers={live.breakers} />
          <section>
            <h2>HTTP routes (as tsmicro api serves them)</h2>
            {info?.openApi && (
              <p>
                <a href={info.openApi}>OpenAPI document</a>
              </p>
            )}
            {routes.length === 0 ? (
              <p class="muted">No google.api.http routes.</p>
            ) : (
              <table data-testid="routes">
                <tbody>
                  {routes.map((route) => (
                    <tr key={`${route.method} ${route.path}`}>
                      <td>{route.method}</td>
                      <td class="mono">{route.path}</td>
                      <td class="mono muted">{methodName(route.rpc)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
        </section>
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);

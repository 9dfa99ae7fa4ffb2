import type { BreakerView, MethodStats, StatsPoint } from "./api";

/** A small line chart of one series; the newest point on the right. */
function Spark(props: {
  points: readonly StatsPoint[];
  value: (p: StatsPoint) => number;
  label: string;
  unit: string;
}) {
  const { points, value, label, unit } = props;
  const width = 160;
  const height = 36;
  const values = points.map(value);
  const max = Math.max(1e-9, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const path = values
    .map(
      (v, i) => `${i === 0 ? "M" : "L"}${(i * step).toFixed(1)},${(height - (v / max) * (height - 2) - 1).toFixed(1)}`,
    )
    .join(" ");
  const last = values.at(-1) ?? 0;
  return (
    <figure class="spark">
      <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
        <path d={path} fill="none" stroke="currentColor" stroke-width="1.5" />
      </svg>
      <figcaption>
        {label}: <strong>{last.toFixed(last < 10 ? 2 : 0)}</strong> {unit}
      </figcaption>
    </figure>
  );
}

/** Per method: calls per second, failures per second and mean latency, from the services' /metrics. */
export function Charts(props: { stats: readonly MethodStats[]; breakers: readonly BreakerView[] }) {
  const { stats, breakers } = props;
  return (
    <section>
      <h2>Traffic</h2>
      {stats.length === 0 && <p class="muted">No calls seen yet (charts read each node's /metrics).</p>}
      <div class="charts">
        {stats.map((method) => {
          const last = method.points.at(-1);
          return (
            <div
              key={`${method.service} ${method.method}`}
              class="chart"
              data-testid={`chart-${method.method}`}
              data-points={method.points.length}
              data-rate={last?.rate.toFixed(2) ?? "0"}
            >
              <h4 class="mono small">
                {method.service} · {method.method}
              </h4>
              <Spark points={method.points} value={(p) => p.rate} label="calls" unit="/s" />
              <Spark points={method.points} value={(p) => p.errors} label="errors" unit="/s" />
              <Spark points={method.points} value={(p) => p.latencyMs} label="latency" unit="ms" />
            </div>
          );
        })}
      </div>
      {breakers.length > 0 && (
        <>
          <h3>Circuit breakers</h3>
          <table data-testid="breakers">
            <thead>
              <tr>
                <th title="The node whose client holds the breaker, or the dashboard's own client">Caller</th>
                <th>Service · method called</th>
                <th>State</th>
              </tr>
            </thead>
            <tbody>
              {breakers.map((b) => (
                <tr key={`${b.at} ${b.service} ${b.method}`}>
                  <td class="mono small">{b.at}</td>
                  <td class="mono">
                    {b.service} · {b.method}
                  </td>
                  <td>
                    <span class={b.state === "closed" ? "badge ok" : "badge bad"}>{b.state}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

import type { BreakerView, MethodStats, RecentStats, StatsPoint } from "./api";

/** A figure as the captions print it: two decimals below 10, whole numbers above. */
function figure(value: number): string {
  return value.toFixed(value < 10 ? 2 : 0);
}

/** The time a chart's figures cover: a minute once it has been charted that long, else its seconds so far. */
function span(recent: RecentStats): string {
  const seconds = Math.round(recent.seconds);
  return seconds >= 60 ? "1 min" : `${Math.max(seconds, 1)} s`;
}

/**
 * A small line chart of one series, a point a second, the newest on the right; its caption is
 * the method's figure over the last minute (`shown`), since a second's rate is zero between calls.
 */
function Spark(props: {
  points: readonly StatsPoint[];
  value: (p: StatsPoint) => number;
  label: string;
  shown: string;
  unit: string;
}) {
  const { points, value, label, shown, unit } = props;
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
  return (
    <figure class="spark">
      <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
        <path d={path} fill="none" stroke="currentColor" stroke-width="1.5" />
      </svg>
      <figcaption>
        {label}: <strong>{shown}</strong> {unit}
      </figcaption>
    </figure>
  );
}

/**
 * Per method: calls per second, failures per second and mean latency, from the services' /metrics;
 * the lines over two minutes, a point a second, and the figures as means over the last minute.
 */
export function Charts(props: { stats: readonly MethodStats[]; breakers: readonly BreakerView[] }) {
  const { stats, breakers } = props;
  return (
    <section>
      <h2>Traffic</h2>
      {stats.length === 0 && <p class="muted">No calls seen yet (charts read each node's /metrics).</p>}
      {stats.length > 0 && (
        <p class="muted small">
          Lines: a point a second, the last 2 min. Figures: the mean over the last minute, or since the method was first
          charted.
        </p>
      )}
      <div class="charts">
        {stats.map((method) => {
          const { recent } = method;
          return (
            <div
              key={`${method.service} ${method.method}`}
              class="chart"
              data-testid={`chart-${method.method}`}
              data-points={method.points.length}
              data-last-rate={method.points.at(-1)?.rate.toFixed(2) ?? "0"}
              data-rate={recent.rate.toFixed(2)}
            >
              <h4 class="mono small">
                {method.service} · {method.method}
              </h4>
              <p class="muted small" data-testid="chart-span">
                figures: mean over {span(recent)}
              </p>
              <Spark points={method.points} value={(p) => p.rate} label="calls" shown={figure(recent.rate)} unit="/s" />
              <Spark
                points={method.points}
                value={(p) => p.errors}
                label="errors"
                shown={figure(recent.errors)}
                unit="/s"
              />
              <Spark
                points={method.points}
                value={(p) => p.latencyMs}
                label="latency"
                shown={recent.latencyMs === null ? "–" : figure(recent.latencyMs)}
                unit={recent.latencyMs === null ? "ms (no calls)" : "ms"}
              />
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

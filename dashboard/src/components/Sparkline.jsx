// A usage line over time, scaled to `max` (e.g. the node's capacity).

export function Sparkline({ values, max, width = 160, height = 32, label }) {
  const top = Math.max(max || 0, ...values, 1e-9);
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - (v / top) * (height - 2) - 1).toFixed(1)}`);
  return (
    <svg class="sparkline" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
      <title>{label}</title>
      <rect x="0" y="0" width={width} height={height} class="sparkline-bg" />
      {values.length > 1 ? (
        <>
          <polygon points={`0,${height} ${points.join(" ")} ${((values.length - 1) * step).toFixed(1)},${height}`} class="sparkline-fill" />
          <polyline points={points.join(" ")} class="sparkline-line" />
        </>
      ) : (
        <text x={width / 2} y={height / 2 + 4} text-anchor="middle" class="sparkline-text">
          {values.length ? "collecting…" : "no data"}
        </text>
      )}
    </svg>
  );
}

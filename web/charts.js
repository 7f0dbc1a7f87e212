// uPlot charts of the dashboard. Times arrive in epoch milliseconds; uPlot's time axis counts seconds.
import uPlot from './vendor/uplot.js';

const HEIGHT = 220;
const ACCENT = '#2f6fde';
const BURST_SHADE = 'rgba(230, 80, 60, 0.3)';
const BEAT_COLOUR = '#1a9c5b';

function widthOf(container) {
  return Math.max(300, container.clientWidth);
}

/** The chart and resize observer each container holds, so a redraw replaces them instead of piling up. */
const mounted = new WeakMap();

function chart(container, opts, data) {
  const previous = mounted.get(container);
  if (previous) {
    previous.observer.disconnect();
    previous.plot.destroy();
  }
  const plot = new uPlot({ width: widthOf(container), height: HEIGHT, ...opts }, data, container);
  const observer = new ResizeObserver(() => plot.setSize({ width: widthOf(container), height: HEIGHT }));
  observer.observe(container);
  mounted.set(container, { plot, observer });
  return plot;
}

const seconds = (ms) => ms / 1000;
const RATE_WINDOW_S = 600;
/** The burst band stays visible when the burst is a minute in a timeline of hours. */
const MIN_BAND_PX = 16;
const numberAxis = (label) => ({
  label,
  size: 70,
  values: (_u, ticks) => ticks.map((v) => Intl.NumberFormat(undefined, { notation: 'compact' }).format(v)),
});

/** Events per second over the last minutes; `append` adds the live samples. */
export function rateChart(container, samples) {
  const xs = samples.map((s) => seconds(s.ts));
  const ys = samples.map((s) => s.events_per_s);
  const plot = chart(
    container,
    {
      legend: { show: false },
      scales: {
        x: { range: (_u, min, max) => [Math.min(Math.max(min, max - RATE_WINDOW_S), max - 60), max] },
        y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
      },
      series: [{}, { label: 'events/s', stroke: ACCENT, fill: 'rgba(47, 111, 222, 0.12)', width: 2 }],
      axes: [{}, { label: 'events/s' }],
    },
    [xs, ys],
  );
  return {
    append(sample, keep) {
      xs.push(seconds(sample.ts));
      ys.push(sample.events_per_s);
      if (xs.length > keep) {
        xs.shift();
        ys.shift();
      }
      plot.setData([xs, ys]);
    },
  };
}

/** Buckets access times into at most `buckets` equal spans between `from` and `to` (ms). */
function histogram(times, from, to, buckets) {
  const span = Math.max(1, (to - from) / buckets);
  const xs = Array.from({ length: buckets }, (_, i) => seconds(from + (i + 0.5) * span));
  const counts = new Array(buckets).fill(0);
  for (const t of times) counts[Math.min(buckets - 1, Math.floor((t - from) / span))]++;
  return [xs, counts];
}

/** Past beats of a periodic key within [from, to], from its next expected beat and its period. */
function beats(periodic, from, to) {
  if (!periodic) return [];
  const period = periodic.period_s * 1000;
  const out = [];
  for (let t = periodic.next_ts; t >= from && out.length < 500; t -= period) if (t <= to) out.push(t);
  return out;
}

function verticalLine(u, ts, colour, dash) {
  const x = u.valToPos(seconds(ts), 'x', true);
  const { ctx, bbox } = u;
  ctx.save();
  ctx.strokeStyle = colour;
  ctx.setLineDash(dash);
  ctx.lineWidth = 1.5 * devicePixelRatio;
  ctx.beginPath();
  ctx.moveTo(x, bbox.top);
  ctx.lineTo(x, bbox.top + bbox.height);
  ctx.stroke();
  ctx.restore();
}

/**
 * Accesses per time bucket, with the current burst shaded and expected periodic beats (including the
 * next one) marked as dashed lines.
 */
export function timelineChart(container, view, accesses) {
  const times = accesses.map((a) => a.ts);
  const from = times[0] ?? view.first_ts;
  const to = Math.max(view.last_ts, view.periodic ? view.periodic.next_ts : 0, from + 1000);
  const expected = beats(view.periodic, from, to);
  const shadeBurst = (u) => {
    if (!view.burst) return;
    const right = u.valToPos(seconds(view.last_ts), 'x', true);
    const left = Math.min(
      u.valToPos(seconds(view.burst.since_ts), 'x', true),
      right - MIN_BAND_PX * devicePixelRatio,
    );
    u.ctx.fillStyle = BURST_SHADE;
    u.ctx.fillRect(left, u.bbox.top, right - left, u.bbox.height);
  };
  const markBeats = (u) => {
    for (const t of expected) verticalLine(u, t, BEAT_COLOUR, [6, 4]);
  };
  return chart(
    container,
    {
      legend: { show: false },
      scales: { x: { range: [seconds(from), seconds(to)] }, y: { range: (_u, _min, max) => [0, max + 1] } },
      series: [
        {},
        {
          label: 'accesses',
          fill: ACCENT,
          stroke: ACCENT,
          paths: uPlot.paths.bars({ size: [0.9, 40] }),
          points: { show: false },
        },
      ],
      axes: [{}, numberAxis('accesses')],
      // Drawn over the bars, translucent, so a burst's own tall bar does not hide its band.
      hooks: { draw: [shadeBurst, markBeats] },
    },
    histogram(times, from, to, 80),
  );
}

/** Position of each access over time: a sequential key draws a staircase, a random one a cloud. */
export function positionChart(container, accesses) {
  const points = accesses.filter((a) => a.position !== null);
  return chart(
    container,
    {
      legend: { show: false },
      series: [
        {},
        {
          label: 'position',
          stroke: ACCENT,
          paths: () => null,
          points: { show: true, size: 5, fill: ACCENT },
        },
      ],
      axes: [{}, numberAxis('position')],
    },
    [points.map((a) => seconds(a.ts)), points.map((a) => a.position)],
  );
}

// The key page: its state, a timeline of its recent accesses, its positions, its partners, and actions.
import { api, keyPath } from './api.js';
import { positionChart, timelineChart } from './charts.js';
import { badge, duration, el, keyLink, percent, time } from './format.js';

function details(v) {
  const rows = [
    ['Patterns', el('span', {}, ...v.patterns.map(badge))],
    ['Confidence', `${percent(v.confidence)} (${v.pattern})`],
    ['Accesses', String(v.accesses)],
    ['First access', time(v.first_ts)],
    ['Last access', time(v.last_ts)],
    ['Source', v.source ?? '–'],
  ];
  if (v.sequential) {
    rows.push([
      'Sequential',
      `${v.sequential.direction}, stride ${v.sequential.stride}, ${v.sequential.streams} stream(s)`,
    ]);
  }
  if (v.periodic) {
    rows.push(['Period', `${duration(v.periodic.period_s)} ± ${duration(v.periodic.jitter_s)}`]);
    rows.push(['Next expected', time(v.periodic.next_ts)]);
  }
  if (v.burst) {
    rows.push([
      'Burst',
      `since ${time(v.burst.since_ts)}: ${v.burst.rate_per_min}/min, ${v.burst.ratio}× usual`,
    ]);
  }
  if (v.schedule) {
    rows.push(['Busiest hours (UTC)', v.schedule.peak_hours.join(', ')]);
  }
  if (v.trend) rows.push(['Trend', `${v.trend.direction} (${percent(v.trend.rate_change_per_day)} per day)`]);
  return rows.flatMap(([term, value]) => [el('dt', {}, term), el('dd', {}, value)]);
}

function partnerRows(partners) {
  if (partners.length === 0)
    return [el('tr', {}, el('td', { colspan: 5, class: 'muted' }, 'no correlated keys'))];
  return partners.map((p) =>
    el(
      'tr',
      {},
      el('td', {}, keyLink(p.key)),
      el('td', {}, p.direction === 'after' ? 'follows this key' : 'precedes this key'),
      el('td', {}, percent(p.confidence)),
      el('td', {}, `${p.lag_s} s`),
      el('td', { class: 'num' }, String(p.support)),
    ),
  );
}

export function renderKey(root, key) {
  const title = el('h1', { class: 'key-title' }, key);
  const watch = el('button', { type: 'button', id: 'watch' });
  const forget = el('button', { type: 'button', id: 'forget', class: 'danger' }, 'Forget this key');
  const message = el('span', { class: 'muted' });
  const dl = el('dl', { class: 'details' });
  const coverage = el('p', { class: 'muted' });
  const timeline = el('div', { class: 'chart', id: 'timeline' });
  const position = el('div', { class: 'chart', id: 'positions' });
  const positionPanel = el(
    'section',
    { class: 'panel', hidden: true },
    el('h2', {}, 'Position over time'),
    position,
  );
  const partners = el('tbody');
  root.replaceChildren(
    el('p', {}, el('a', { href: '#/' }, '← all keys')),
    title,
    el('div', { class: 'actions' }, watch, forget, message),
    dl,
    el(
      'section',
      { class: 'panel' },
      el('h2', {}, 'Recent accesses'),
      coverage,
      timeline,
      el(
        'p',
        { class: 'legend' },
        el('span', { class: 'swatch burst' }),
        'burst ',
        el('span', { class: 'swatch beat' }),
        'expected periodic beats',
      ),
    ),
    positionPanel,
    el(
      'section',
      { class: 'panel' },
      el('h2', {}, 'Correlated partners'),
      el(
        'table',
        {},
        el(
          'thead',
          {},
          el('tr', {}, ...['Key', 'Direction', 'Confidence', 'Lag', 'Episodes'].map((h) => el('th', {}, h))),
        ),
        partners,
      ),
    ),
  );

  let watched = false;
  const load = async () => {
    let view;
    let recent;
    try {
      [view, recent] = await Promise.all([api(keyPath(key)), api(`${keyPath(key)}/accesses`)]);
    } catch (err) {
      message.textContent = err.message;
      return;
    }
    watched = view.watched;
    watch.textContent = watched ? 'Stop watching in Home Assistant' : 'Watch in Home Assistant';
    dl.replaceChildren(...details(view));
    coverage.textContent =
      recent.accesses.length === 0
        ? 'No recent accesses in memory: the dashboard keeps only the latest events of all keys.'
        : `${recent.accesses.length} accesses since ${time(recent.accesses[0].ts)} (the dashboard keeps the latest ${recent.ring_capacity} events of all keys).`;
    timelineChart(timeline, view, recent.accesses);
    const hasPositions = recent.accesses.some((a) => a.position !== null);
    positionPanel.hidden = !hasPositions;
    if (hasPositions) positionChart(position, recent.accesses);
    partners.replaceChildren(...partnerRows(view.correlated));
  };

  const act = async (run) => {
    try {
      await run();
    } catch (err) {
      message.textContent = err.message;
    }
  };
  watch.addEventListener('click', () =>
    act(async () => {
      const res = await api(watched ? 'unwatch' : 'watch', { method: 'POST', body: { globs: [key] } });
      message.textContent = `watched globs: ${res.watch.join(', ') || 'none'}`;
      await load();
    }),
  );
  forget.addEventListener('click', () =>
    act(async () => {
      if (!confirm(`Forget everything patternd learnt about ${key}?`)) return;
      await api(`${keyPath(key)}/forget`, { method: 'POST', body: {} });
      location.hash = '#/';
    }),
  );

  return {
    ready: load(),
    overview: load,
    keysChanged() {},
    removed(event) {
      if (event.keys.includes(key)) message.textContent = 'This key is no longer tracked.';
    },
  };
}

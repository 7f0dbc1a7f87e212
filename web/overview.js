// The overview page: counts per pattern, events/s, bursting keys, and the searchable, sortable key table.
import { api } from './api.js';
import { rateChart } from './charts.js';
import { badge, debounce, duration, el, keyLink, percent, throttle, time } from './format.js';

const PATTERNS = ['sequential', 'random', 'periodic', 'burst', 'correlated'];
const RATE_SAMPLES = 300;
const PAGE_SIZE = 50;
const COLUMNS = [
  { label: 'Key', sort: 'key' },
  { label: 'Pattern' },
  { label: 'Confidence', sort: 'confidence' },
  { label: 'Accesses', sort: 'accesses' },
  { label: 'Last access', sort: 'last_ts' },
  { label: 'Period' },
  { label: 'Partners' },
];

/** The table's query survives navigating to a key page and back. */
const query = { q: '', pattern: '', sort: 'recent', order: 'desc', page: 1 };

export function renderOverview(root) {
  const cards = el('section', { class: 'cards' });
  const rate = el('div', { class: 'chart', id: 'rate-chart' });
  const bursting = el('ul', { class: 'bursting' });
  const search = el('input', { type: 'search', placeholder: 'Search keys', value: query.q, id: 'search' });
  const patternFilter = el(
    'select',
    { id: 'pattern-filter' },
    el('option', { value: '' }, 'all patterns'),
    ...PATTERNS.map((p) => el('option', { value: p, selected: p === query.pattern }, p)),
  );
  const head = el('tr');
  const body = el('tbody');
  const info = el('span', { class: 'muted' });
  const prev = el('button', { type: 'button' }, '‹ previous');
  const next = el('button', { type: 'button' }, 'next ›');
  root.replaceChildren(
    cards,
    el('section', { class: 'panel' }, el('h2', {}, 'Events per second'), rate),
    el('section', { class: 'panel' }, el('h2', {}, 'Bursting now'), bursting),
    el(
      'section',
      { class: 'panel' },
      el('h2', {}, 'Keys'),
      el('div', { class: 'controls' }, search, patternFilter, info),
      el('table', { id: 'keys' }, el('thead', {}, head), body),
      el('div', { class: 'pager' }, prev, next),
    ),
  );

  let chart;
  const showCounts = (keys, patterns, eventsPerSecond) => {
    cards.replaceChildren(
      el('div', { class: 'card' }, el('b', {}, String(keys)), 'keys'),
      el('div', { class: 'card' }, el('b', {}, String(eventsPerSecond ?? 0)), 'events/s'),
      ...PATTERNS.map((p) =>
        el(
          'button',
          { type: 'button', class: `card p-${p}`, 'data-pattern': p, title: `show ${p} keys` },
          el('b', {}, String(patterns[p] ?? 0)),
          p,
        ),
      ),
    );
  };

  const showBursting = (rows) => {
    bursting.replaceChildren(
      ...(rows.length === 0
        ? [el('li', { class: 'muted' }, 'no key is bursting')]
        : rows.map((r) =>
            el('li', {}, keyLink(r.key), ` ${r.burst.rate_per_min}/min, ${r.burst.ratio}× its usual rate`),
          )),
    );
  };

  const showHead = () => {
    head.replaceChildren(
      ...COLUMNS.map(({ label, sort }) => {
        if (!sort) return el('th', {}, label);
        const active = query.sort === sort;
        const arrow = active ? (query.order === 'asc' ? ' ▲' : ' ▼') : '';
        return el(
          'th',
          { 'data-sort': sort, class: 'sortable', 'aria-sort': active ? `${query.order}ending` : 'none' },
          label + arrow,
        );
      }),
    );
  };

  const row = (k) =>
    el(
      'tr',
      { 'data-key': k.key },
      el('td', {}, keyLink(k.key)),
      el('td', {}, ...k.patterns.map(badge)),
      el('td', {}, percent(k.confidence)),
      el('td', { class: 'num' }, String(k.accesses)),
      el('td', {}, time(k.last_ts)),
      el('td', {}, duration(k.period_s)),
      el('td', {}, k.partners.map((p) => p.key).join(', ')),
    );

  const loadKeys = async () => {
    const params = new URLSearchParams({
      sort: query.sort,
      order: query.order,
      page: String(query.page),
      page_size: String(PAGE_SIZE),
    });
    if (query.q) params.set('q', query.q);
    if (query.pattern) params.set('pattern', query.pattern);
    showHead();
    try {
      const res = await api(`keys?${params}`);
      body.replaceChildren(...res.keys.map(row));
      const first = (res.page - 1) * res.page_size + 1;
      info.textContent =
        res.total === 0 ? 'no keys' : `${first}–${first + res.keys.length - 1} of ${res.total}`;
      prev.disabled = res.page <= 1;
      next.disabled = res.page * res.page_size >= res.total;
    } catch (err) {
      info.textContent = err.message;
    }
  };

  const loadOverview = async () => {
    const o = await api('overview');
    showCounts(o.keys, o.patterns, o.events_per_s);
    showBursting(o.bursting);
    chart = rateChart(rate, o.rates);
  };

  search.addEventListener(
    'input',
    debounce(() => {
      query.q = search.value.trim();
      query.page = 1;
      loadKeys();
    }, 250),
  );
  patternFilter.addEventListener('change', () => {
    query.pattern = patternFilter.value;
    query.page = 1;
    loadKeys();
  });
  cards.addEventListener('click', (e) => {
    const card = e.target.closest('[data-pattern]');
    if (!card) return;
    patternFilter.value = card.dataset.pattern;
    patternFilter.dispatchEvent(new Event('change'));
  });
  head.addEventListener('click', (e) => {
    const th = e.target.closest('[data-sort]');
    if (!th) return;
    const sort = th.dataset.sort;
    query.order =
      query.sort === sort ? (query.order === 'asc' ? 'desc' : 'asc') : sort === 'key' ? 'asc' : 'desc';
    query.sort = sort;
    query.page = 1;
    loadKeys();
  });
  prev.addEventListener('click', () => {
    query.page--;
    loadKeys();
  });
  next.addEventListener('click', () => {
    query.page++;
    loadKeys();
  });

  const ready = Promise.all([loadOverview(), loadKeys()]);
  // Throttled, not debounced: under a steady stream of changes a debounce would never fire.
  const refreshKeys = throttle(loadKeys, 1000);
  const refreshBursting = throttle(async () => showBursting((await api('overview')).bursting), 1000);

  return {
    ready,
    overview(o) {
      showCounts(o.keys, o.patterns, o.events_per_s);
      if (o.ts) chart?.append(o, RATE_SAMPLES);
      // Accesses and last access change without a pattern change; a hidden tab need not ask.
      if (document.visibilityState === 'visible') refreshKeys();
    },
    keysChanged() {
      refreshKeys();
      refreshBursting();
    },
    removed() {
      refreshKeys();
    },
  };
}

// Small display helpers shared by the dashboard's pages.

/** Builds an element; children are nodes or strings (as text, never as HTML: keys are arbitrary). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === undefined || value === null) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

export function time(ms) {
  return ms ? new Date(ms).toLocaleString() : '–';
}

export function duration(s) {
  if (s === null || s === undefined) return '–';
  if (s < 120) return `${Math.round(s * 10) / 10} s`;
  if (s < 2 * 3600) return `${Math.round(s / 60)} min`;
  if (s < 2 * 86400) return `${Math.round((s / 3600) * 10) / 10} h`;
  return `${Math.round((s / 86400) * 10) / 10} d`;
}

export function percent(x) {
  return `${Math.round(x * 100)} %`;
}

export function badge(pattern) {
  return el('span', { class: `badge p-${pattern}` }, pattern);
}

export function keyLink(key) {
  return el('a', { href: `#/key/${encodeURIComponent(key)}` }, key);
}

/** Calls `fn` once `ms` after the last of a run of calls. */
export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Calls `fn` at most once per `ms`, at the end of the period, however often it is asked for meanwhile. */
export function throttle(fn, ms) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    setTimeout(() => {
      pending = false;
      fn();
    }, ms);
  };
}

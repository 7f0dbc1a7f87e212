// The dashboard: a hash router between the overview and key pages, fed live by the event stream.
import { api, events } from './api.js';
import { el } from './format.js';
import { renderKey } from './key.js';
import { renderOverview } from './overview.js';

const root = document.getElementById('view');
const liveBadge = document.getElementById('live');
const healthBadge = document.getElementById('health');
let page;

function route() {
  const match = location.hash.match(/^#\/key\/(.+)$/);
  page = match ? renderKey(root, decodeURIComponent(match[1])) : renderOverview(root);
  return page.ready;
}

async function showHealth() {
  const { health } = await api('overview');
  healthBadge.textContent = health.ok ? 'healthy' : `unhealthy: ${health.reasons.join('; ')}`;
  healthBadge.className = `health ${health.ok ? 'ok' : 'bad'}`;
}

async function main() {
  window.addEventListener('hashchange', route);
  try {
    await route();
    await showHealth();
  } catch (err) {
    root.replaceChildren(el('p', { class: 'error' }, `patternd did not answer: ${err.message}`));
  }
  // Opened after the first API call, so a token asked for by then is used by the stream too.
  events(
    {
      overview: (o) => page.overview(o),
      keys: (e) => page.keysChanged(e),
      removed: (e) => page.removed(e),
    },
    (connected) => {
      liveBadge.textContent = connected ? 'live' : 'reconnecting…';
      liveBadge.classList.toggle('on', connected);
      // Changes made while the stream was not (yet) connected were not announced: catch up once.
      if (connected) page.keysChanged({ keys: [], overflow: true });
    },
  );
}

main();

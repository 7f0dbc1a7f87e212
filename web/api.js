// The dashboard's side of /api: fetch with the bearer token when one is needed, and the event stream.
// URLs are relative so the dashboard also works behind a reverse proxy under a sub-path.

const TOKEN_KEY = 'patternd.token';

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Asks for the token once; resolves when the user has given one. */
function askToken() {
  const dialog = document.getElementById('token-dialog');
  const input = document.getElementById('token-input');
  return new Promise((resolve) => {
    dialog.addEventListener(
      'close',
      () => {
        sessionStorage.setItem(TOKEN_KEY, input.value);
        resolve();
      },
      { once: true },
    );
    if (!dialog.open) dialog.showModal();
  });
}

export async function api(path, { method = 'GET', body } = {}) {
  for (;;) {
    const headers = { accept: 'application/json' };
    if (token()) headers.authorization = `Bearer ${token()}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`api/${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401) {
      await askToken();
      continue;
    }
    const data = await res.json();
    if (!res.ok) throw new Error(data.error ?? res.statusText);
    return data;
  }
}

export function keyPath(key) {
  return `keys/${encodeURIComponent(key)}`;
}

/** Opens the event stream; `handlers` maps event names to callbacks. EventSource reconnects by itself. */
export function events(handlers, onState) {
  // EventSource cannot send headers, so the token goes in the query string (accepted only here).
  const query = token() ? `?access_token=${encodeURIComponent(token())}` : '';
  const source = new EventSource(`api/events${query}`);
  source.onopen = () => onState(true);
  source.onerror = () => onState(false);
  for (const [name, handle] of Object.entries(handlers)) {
    source.addEventListener(name, (e) => handle(JSON.parse(e.data)));
  }
  return source;
}

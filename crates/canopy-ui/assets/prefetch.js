// Starts a session page's data before the dashboard's modules have loaded: a classic script the
// page runs as soon as it is parsed, while the module graph is still on its way. The session
// page takes the answer (api.js, takePrefetched) instead of asking again; anything but a
// clean answer is ignored, and the page then asks the usual way (which handles keys and errors).
(() => {
  const match = /^\/ui\/sessions\/([^/]+)$/.exec(window.location.pathname);
  if (!match) return;
  let key = '';
  try {
    key = localStorage.getItem('canopy.apiKey') || '';
  } catch {
    // No storage: the page asks for a key if one is needed.
  }
  const headers = { accept: 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  const answer = fetch(`/api/v1/session/${match[1]}`, { headers })
    .then((response) => (response.ok ? response.json() : null))
    .then((envelope) => (envelope && envelope.error == null ? envelope.data : null))
    .catch(() => null);
  window.canopyPrefetched = { path: window.location.pathname, answer };
})();

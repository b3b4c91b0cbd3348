'use strict';
// The Service Proxy: each service's connection and sync, buffered writes (Cancel inside their window), dead letters
// (Retry / Discard) and executed writes (Roll back while their rollback point is kept). Descriptions come from agents'
// arguments: inserted as text only. Refreshed every 10 s.
(() => {
  const { api, el, content, time, message, toast } = K;

  async function act(w, verb) {
    if (verb === 'rollback' && !confirm(`Roll back ${w.write_id} (${w.operation}: ${w.rollback})? This changes the provider's data.`)) return;
    const r = await api(`/api/proxy/writes/${encodeURIComponent(w.write_id)}/${verb}`, { method: 'POST' });
    if (!r.ok) { toast(message(r.body, verb + ' failed (' + r.status + ')'), 'error'); load(); return; }
    toast(`${w.write_id}: ${verb === 'rollback' ? 'rolled back' : r.body.status}`);
    load();
  }

  function services(list) {
    return el('table', { id: 'services' }, el('thead', {}, el('tr', {}, ['Service', 'Status', 'Account', 'Last sync', 'Replica', 'Buffered', 'Dead letters', 'Rollback points'].map(h => el('th', {}, h)))),
      el('tbody', {}, list.map(s => el('tr', { 'data-service': s.name },
        el('td', {}, s.display_name), el('td', {}, el('span', { class: 'badge ' + s.status }, s.status)), el('td', {}, s.account || ''),
        el('td', {}, s.last_sync ? time(s.last_sync) : 'never'), el('td', {}, s.replica_entries), el('td', {}, s.buffered_writes),
        el('td', {}, s.dead_letters), el('td', {}, s.rollback_points)))));
  }

  // An executed write's status: done, and what became of its rollback.
  function state(w) {
    if (w.status !== 'done' || !w.rollback) return w.status;
    if (w.rollback_status === 'applied') return `done, rolled back (${w.rollback})`;
    if (w.rollback_status) return `done, rollback ${w.rollback_status}`;
    return w.rollback_available ? `done (${w.rollback} until ${time(w.rollback_until)})` : `done (${w.rollback} expired)`;
  }

  function writes(id, list, buttons) {
    return el('table', { id }, el('thead', {}, el('tr', {}, ['Write', 'Operation', 'Agent', 'Description', 'Until', 'Status', ''].map(h => el('th', {}, h)))),
      el('tbody', {}, list.map(w => el('tr', { 'data-id': w.write_id, 'data-status': w.status },
        el('td', {}, w.write_id), el('td', {}, w.operation), el('td', {}, w.agent), el('td', { class: 'message' }, w.description),
        el('td', {}, time(w.buffer_until)), el('td', { class: 'state' }, state(w) + (w.last_error ? ` (${w.attempts} attempt(s): ${w.last_error})` : '')),
        el('td', {}, buttons(w))))));
  }

  async function load(background) {
    const opts = { background: background === true };
    const [s, p, d, x] = await Promise.all([api('/api/proxy/status', opts), api('/api/proxy/writes?status=pending', opts),
      api('/api/proxy/writes?status=dead_lettered', opts), api('/api/proxy/writes?status=done', opts)]);
    const failed = [s, p, d, x].find(r => !r.ok);
    if (failed) { content(el('p', { class: 'error' }, message(failed.body, 'Could not load the service proxy (' + failed.status + ')'))); return; }
    content(
      el('h2', {}, 'Services'), s.body.services.length ? services(s.body.services) : el('p', { class: 'muted' }, 'No service adapter is registered.'),
      el('h2', {}, 'Buffered writes'),
      p.body.writes.length ? el('div', { class: 'scroll' }, writes('pending', p.body.writes, w => w.cancellable
        ? el('button', { type: 'button', class: 'cancel', onclick: () => act(w, 'cancel') }, 'Cancel') : '')) : el('p', { class: 'muted', id: 'no-pending' }, 'No buffered writes.'),
      el('h2', {}, 'Dead letters'),
      d.body.writes.length ? el('div', { class: 'scroll' }, writes('dead', d.body.writes, w => el('span', {},
        el('button', { type: 'button', class: 'retry', onclick: () => act(w, 'retry') }, 'Retry'), ' ',
        el('button', { type: 'button', class: 'discard', onclick: () => act(w, 'discard') }, 'Discard')))) : el('p', { class: 'muted', id: 'no-dead' }, 'No dead letters.'),
      el('h2', {}, 'Executed writes'),
      x.body.writes.length ? el('div', { class: 'scroll' }, writes('executed', x.body.writes, w => w.rollback_available
        ? el('button', { type: 'button', class: 'rollback', onclick: () => act(w, 'rollback') }, 'Roll back') : '')) : el('p', { class: 'muted', id: 'no-executed' }, 'No executed writes.'));
  }
  load();
  setInterval(() => load(true), 10000);
})();

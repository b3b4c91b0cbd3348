'use strict';
// Alerts from agents (alerts.send) and from the gateway itself, newest first; pending ones can be acknowledged. Messages are agent-written text.
(() => {
  const { api, el, content, time, message, toast } = K;
  const tabs = ['pending', 'acknowledged', 'all'];
  let status = 'pending';

  async function acknowledge(a) {
    const r = await api(`/api/alerts/${encodeURIComponent(a.alert_id)}/acknowledge`, { method: 'POST' });
    if (!r.ok) { toast(message(r.body, 'acknowledge failed (' + r.status + ')'), 'error'); return; }
    toast(`${a.alert_id}: ` + (r.body.acknowledged ? 'acknowledged' : 'was already acknowledged'));
    load();
    K.alerts();
  }

  async function load(background) {
    const r = await api('/api/alerts?limit=200&status=' + status, { background: background === true });
    if (!r.ok) { content(el('p', { class: 'error' }, message(r.body, 'Could not load alerts (' + r.status + ')'))); return; }
    const nav = el('div', { class: 'tabs', role: 'tablist' }, tabs.map(t => el('button', { type: 'button', role: 'tab', 'data-status': t,
      'aria-selected': t === status ? 'true' : 'false', onclick: () => { status = t; load(); } }, t)));
    const list = r.body.alerts;
    const table = el('table', { id: 'alerts' }, el('thead', {}, el('tr', {}, ['Severity', 'Message', 'Source', 'Count', 'Last seen', 'Status', ''].map(h => el('th', {}, h)))),
      el('tbody', {}, list.map(a => el('tr', { 'data-id': a.alert_id, 'data-status': a.status },
        el('td', {}, el('span', { class: 'badge ' + a.severity }, a.severity)),
        el('td', { class: 'message' }, a.message),
        el('td', {}, a.source), el('td', {}, a.count), el('td', {}, time(a.last_seen_at)),
        el('td', {}, a.status === 'pending' ? 'pending' : `acknowledged by ${a.acknowledged_by} ${time(a.acknowledged_at)}`),
        el('td', {}, a.status === 'pending' ? el('button', { type: 'button', class: 'ack', onclick: () => acknowledge(a) }, 'acknowledge') : '')))));
    content(...[nav, el('div', { class: 'scroll' }, table), list.length === 0 ? el('p', { class: 'muted', id: 'empty' }, 'No alerts here.') : null,
      r.body.total > list.length ? el('p', { class: 'muted' }, `${list.length} of ${r.body.total} shown`) : null].filter(n => n !== null));
  }
  load();
  setInterval(() => load(true), 15000);
})();

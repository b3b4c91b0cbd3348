'use strict';
(() => {
  const { api, el, content, time, qs } = K;
  const kept = 200;
  const filters = { agent: '', type: '', capability: '' };
  let source = null;
  let list;

  function rowOf(e) {
    const d = e.data || {};
    const bad = e.type === 'capability_error' || e.type === 'policy_violation';
    return el('li', { class: 'event' + (bad ? ' bad' : ''), 'data-type': e.type },
      el('span', { class: 'muted' }, time(e.timestamp)), ' ', el('span', { class: 'type' }, e.type), ' ',
      el('span', { class: 'agent' }, e.agent || '—'), ' ', el('span', { class: 'cap' }, d.capability || ''), ' ',
      el('span', { class: 'muted' }, d.duration_ms !== undefined ? d.duration_ms + ' ms' : d.error_type || d.reason || ''));
  }

  async function start() {
    if (source) source.close();
    const r = await api('/api/activity' + qs({ limit: kept, agent: filters.agent, type: filters.type, capability: filters.capability }));
    list = el('ol', { id: 'events', class: 'events' }, (r.ok ? r.body.events : []).map(rowOf));
    const form = el('form', { class: 'filters', onsubmit: (ev) => { ev.preventDefault(); for (const k of Object.keys(filters)) filters[k] = form.elements[k].value.trim(); start(); } },
      el('input', { name: 'agent', placeholder: 'agent', value: filters.agent, 'aria-label': 'Agent' }),
      el('input', { name: 'type', placeholder: 'type (e.g. capability_invoked)', value: filters.type, 'aria-label': 'Type' }),
      el('input', { name: 'capability', placeholder: 'capability (e.g. filesystem.*)', value: filters.capability, 'aria-label': 'Capability' }),
      el('button', { type: 'submit' }, 'Filter'));
    content(form, el('p', { class: 'muted', id: 'live' }, 'Live (last ' + kept + ' kept)'), list);
    source = new EventSource('/api/activity/stream' + qs(filters));
    const add = (m) => {
      const e = JSON.parse(m.data);
      list.prepend(rowOf(e));
      while (list.children.length > kept) list.lastChild.remove();
    };
    for (const t of ['capability_invoked', 'capability_result', 'capability_error', 'policy_violation', 'notification', 'approval_requested',
      'approval_resolved', 'session_started', 'session_ended', 'rate_limit_hit', 'health_alert', 'file_changed']) source.addEventListener(t, add);
  }
  start();
})();

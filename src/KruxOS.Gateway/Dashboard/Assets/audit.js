'use strict';
(() => {
  const { api, el, content, time, json, qs, message } = K;
  const params = new URLSearchParams(location.search);
  const f = { agent: params.get('agent') || '', capability: params.get('capability') || '', status: params.get('status') || '',
    actor_type: params.get('actor_type') || '', since: params.get('since') || '7d', limit: params.get('limit') || '50', offset: params.get('offset') || '0' };

  async function load() {
    history.replaceState(null, '', '/audit' + qs(f));
    const r = await api('/api/audit' + qs(f));
    const form = el('form', { class: 'filters', onsubmit: (ev) => { ev.preventDefault(); for (const k of ['agent', 'capability', 'status', 'actor_type', 'since', 'limit']) f[k] = form.elements[k].value.trim(); f.offset = '0'; load(); } },
      el('input', { name: 'agent', placeholder: 'agent', value: f.agent, 'aria-label': 'Agent' }),
      el('input', { name: 'capability', placeholder: 'capability (glob)', value: f.capability, 'aria-label': 'Capability' }),
      select('status', ['', 'success', 'denied', 'error', 'pending', 'approved', 'rejected', 'timed_out']),
      select('actor_type', ['', 'agent', 'user']),
      el('input', { name: 'since', placeholder: 'since (24h, 7d, date)', value: f.since, 'aria-label': 'Since' }),
      select('limit', ['25', '50', '100', '200']),
      el('button', { type: 'submit' }, 'Apply'));
    if (!r.ok) { content(form, el('p', { class: 'error' }, message(r.body, 'Could not query the audit log (' + r.status + ')'))); return; }
    const b = r.body;
    const intact = b.integrity === 'verified';
    const integrity = el('p', { id: 'integrity', class: 'integrity ' + (intact ? 'ok' : 'bad') }, 'Chain integrity: ' + b.integrity);
    const first = b.total === 0 ? 0 : b.offset + 1;
    const last = Math.min(b.offset + b.entries.length, b.total);
    const table = el('table', { id: 'audit-entries' }, el('thead', {}, el('tr', {}, ['Time', 'Actor', 'Capability', 'Status', 'Decision', 'Hash'].map(h => el('th', {}, h)))),
      el('tbody', {}, b.entries.flatMap(e => {
        const detail = el('tr', { class: 'detail', hidden: true }, el('td', { colspan: '6' }, el('pre', {}, json(e))));
        const rowEl = el('tr', { class: 'entry', tabindex: '0', onclick: () => { detail.hidden = !detail.hidden; } },
          el('td', {}, time(e.timestamp)), el('td', {}, e.actor ? e.actor.type + ':' + e.actor.name : ''), el('td', {}, e.capability), el('td', {}, e.result ? e.result.status : ''),
          el('td', {}, (e.metadata && e.metadata.approval_decision) || (e.policy_decision && e.policy_decision.tier) || ''),
          el('td', { class: 'hash' }, (e.hash || '').slice(7, 23)));
        return [rowEl, detail];
      })));
    const prev = el('button', { type: 'button', disabled: b.offset === 0, onclick: () => { f.offset = String(Math.max(0, b.offset - b.limit)); load(); } }, 'Previous');
    const next = el('button', { type: 'button', disabled: last >= b.total, onclick: () => { f.offset = String(b.offset + b.limit); load(); } }, 'Next');
    const exportLink = el('a', { href: '/api/audit/export' + qs({ agent: f.agent, capability: f.capability, status: f.status, actor_type: f.actor_type, since: f.since }), download: 'kruxos-audit-export.json', id: 'export' }, 'Export JSON (this selection)');
    content(form, integrity, el('p', { class: 'muted', id: 'showing' }, `Showing ${first}–${last} of ${b.total}`), el('div', { class: 'scroll' }, table), el('div', { class: 'pager' }, prev, next, exportLink));
  }

  function select(name, options) {
    return el('select', { name, 'aria-label': name }, options.map(o => el('option', { value: o, selected: f[name] === o }, o || name.replace('_', ' ') + ': any')));
  }
  load();
})();

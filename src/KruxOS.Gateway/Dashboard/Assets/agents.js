'use strict';
(() => {
  const { api, el, content, time, message, toast } = K;
  let issued = null;

  async function act(name, verb) {
    if (!confirm(`${verb} agent ${name}?`)) return;
    const r = await api(`/api/agents/${encodeURIComponent(name)}/${verb}`, { method: 'POST' });
    if (!r.ok) { toast(message(r.body, verb + ' failed (' + r.status + ')'), 'error'); return; }
    if (r.body.token) issued = r.body;
    toast(`${name}: ${verb} done`);
    load();
  }

  function tokenBox(a) {
    return el('section', { class: 'issued', id: 'issued' },
      el('h2', {}, `Token for ${a.name} — shown once`),
      el('p', { class: 'muted' }, 'Copy it now: the gateway keeps only its hash. A ready .mcp.json for Claude Code:'),
      el('pre', { class: 'token', id: 'issued-token' }, a.token),
      el('pre', { class: 'snippet', id: 'mcp-json' }, a.mcp_json),
      el('button', { type: 'button', onclick: () => { issued = null; load(); } }, 'Done'));
  }

  async function load() {
    const r = await api('/api/agents');
    if (!r.ok) { content(el('p', { class: 'error' }, message(r.body, 'Could not load agents'))); return; }
    const form = el('form', { class: 'create', id: 'create-agent', onsubmit: async (ev) => {
      ev.preventDefault();
      const res = await api('/api/agents', { method: 'POST', body: { name: form.elements.name.value.trim(), purpose: form.elements.purpose.value.trim() } });
      if (!res.ok) { toast(message(res.body, 'create failed (' + res.status + ')'), 'error'); return; }
      issued = res.body;
      load();
    } },
      el('input', { name: 'name', placeholder: 'name', required: true, 'aria-label': 'Name' }),
      el('input', { name: 'purpose', placeholder: 'purpose', 'aria-label': 'Purpose' }),
      el('button', { type: 'submit' }, 'Create agent'));
    const table = el('table', { id: 'agents' }, el('thead', {}, el('tr', {}, ['Name', 'Status', 'Purpose', 'Last connected', 'Invocations', ''].map(h => el('th', {}, h)))),
      el('tbody', {}, r.body.agents.map(a => el('tr', { 'data-name': a.name },
        el('td', {}, el('a', { href: '/agents/' + encodeURIComponent(a.name) }, a.name)),
        el('td', {}, el('span', { class: 'badge ' + a.status }, a.status), a.paused ? [' ', el('span', { class: 'badge paused' }, 'paused')] : ''),
        el('td', {}, a.purpose), el('td', {}, time(a.last_connected)), el('td', {}, a.total_invocations),
        el('td', { class: 'actions' }, (a.status === 'revoked' ? ['restore'] : [a.paused ? 'resume' : 'pause', 'rotate', 'kill', 'revoke']).map(v =>
          el('button', { type: 'button', class: v, onclick: () => act(a.name, v) }, v)))))));
    content(issued ? tokenBox(issued) : '', form, el('div', { class: 'scroll' }, table));
  }
  load();
})();

'use strict';
(() => {
  const { api, el, content, message } = K;
  async function load() {
    const r = await api('/api/status');
    if (!r.ok) { content(el('p', { class: 'error' }, message(r.body, 'Could not load status'))); return; }
    const s = r.body;
    const card = (label, value, href) => el(href ? 'a' : 'div', { class: 'card', href }, el('span', { class: 'value' }, value), el('span', { class: 'label' }, label));
    content(
      el('p', { class: 'health ' + s.health, id: 'health' }, 'Health: ' + s.health),
      el('div', { class: 'cards' },
        card('pending approvals', s.pending_approvals, '/approvals'),
        card('active agents', s.active_agents, '/agents'),
        card('active sessions', s.active_sessions),
        card('calls in 24 h', s.capabilities_invoked_24h, '/audit?since=24h'),
        card('denied in 24 h', s.policy_violations_24h, '/audit?since=24h&status=denied'),
        card('audit chain', s.audit_integrity, '/audit')),
      el('h2', {}, 'Services'),
      el('ul', { class: 'services' }, s.services.map(v => el('li', { class: v.status }, el('span', { class: 'badge ' + v.status }, v.status), ' ', v.name, ' — ', v.details || ''))),
      el('p', { class: 'muted' }, `version ${s.version} · up ${Math.round(s.uptime_seconds / 60)} min · policy ${s.policy || '—'} (revision ${s.policy_revision || '—'}) · ${s.capabilities} capabilities`));
  }
  load();
  setInterval(load, 10000);
})();

'use strict';
(() => {
  const { api, el, content, time, message } = K;
  const name = document.getElementById('main').getAttribute('data-route');
  (async () => {
    const r = await api('/api/agents/' + encodeURIComponent(name));
    if (!r.ok) { content(el('p', { class: 'error' }, message(r.body, 'Unknown agent'))); return; }
    const a = r.body;
    const p = a.policy;
    content(
      el('dl', { class: 'facts' }, ...[['Name', a.name], ['Status', a.status], ['Paused', a.paused ? 'yes: its calls fail with SessionPaused until resumed' : 'no'], ['Purpose', a.purpose], ['Created', time(a.created_at)],
        ['Last connected', time(a.last_connected)], ['Open sessions', a.open_sessions], ['Invocations', a.total_invocations],
        ['Workspace', a.workspace_path], ['Revoked', a.revoked_at ? time(a.revoked_at) : '—']].flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
      el('h2', {}, 'Effective policy'),
      el('p', { class: 'muted' }, `group ${p.policy_group} · revision ${p.policy_revision} · default tier ${p.default_tier || 'from the capability definitions'}`),
      el('div', { class: 'scroll' }, el('table', { id: 'policy-rules' },
        el('thead', {}, el('tr', {}, ['Capability', 'Tier', 'Layer', 'Rule', 'Reason', 'Rate limit', 'Conditions'].map(h => el('th', {}, h)))),
        el('tbody', {}, p.rules.map(x => el('tr', {}, el('td', {}, x.capability), el('td', {}, el('span', { class: 'badge ' + x.tier }, x.tier)),
          el('td', {}, x.layer), el('td', {}, x.rule), el('td', {}, x.reason || ''), el('td', {}, x.rate_limit || ''), el('td', {}, x.conditions.join(', '))))))),
      el('p', {}, el('a', { href: '/audit?agent=' + encodeURIComponent(a.name) }, 'This agent in the audit log')));
  })();
})();

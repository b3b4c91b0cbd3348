'use strict';
(() => {
  const { api, el, content, time, json, message, toast, diff } = K;
  const tabs = ['pending', 'approved', 'rejected', 'timed_out', 'all'];
  let status = 'pending';
  let known = new Set();
  let open = new Set();

  async function load() {
    const r = await api('/api/approvals?status=' + status);
    if (!r.ok) { content(el('p', { class: 'error' }, message(r.body, 'Could not load approvals (' + r.status + ')'))); return; }
    const list = r.body.approvals;
    const fresh = list.filter(a => !known.has(a.id));
    if (known.size > 0 && status === 'pending' && fresh.length > 0) toast(fresh.length + ' new approval request(s) pending');
    known = new Set(list.map(a => a.id));
    render(list);
  }

  function render(list) {
    const nav = el('div', { class: 'tabs', role: 'tablist' }, tabs.map(t =>
      el('button', { type: 'button', role: 'tab', 'aria-selected': t === status ? 'true' : 'false', 'data-status': t,
        onclick: () => { status = t; known = new Set(); load(); } }, t.replace('_', ' '))));
    const rows = list.length === 0
      ? [el('p', { class: 'muted', id: 'empty' }, status === 'pending' ? 'No pending approvals.' : 'Nothing here.')]
      : list.map(row);
    content(nav, el('div', { id: 'approvals' }, rows));
    for (const id of open) { const d = document.querySelector(`details[data-id="${CSS.escape(id)}"]`); if (d) d.open = true; }
  }

  function row(a) {
    const d = el('details', { class: 'approval', 'data-id': a.id, 'data-status': a.status },
      el('summary', {}, el('span', { class: 'cap' }, a.capability), ' ', el('span', { class: 'agent' }, a.agent),
        ' ', el('span', { class: 'badge ' + a.status }, a.status), ' ', el('span', { class: 'muted' }, time(a.requested_at))),
      el('div', { class: 'body' }, el('p', { class: 'muted' }, 'Loading…')));
    d.addEventListener('toggle', () => {
      if (d.open) { open.add(a.id); detail(a.id, d.querySelector('.body')); } else open.delete(a.id);
    });
    return d;
  }

  async function detail(id, box) {
    const r = await api('/api/approvals/' + encodeURIComponent(id));
    if (!r.ok) { box.replaceChildren(el('p', { class: 'error' }, message(r.body, 'not found'))); return; }
    const a = r.body;
    const facts = el('dl', { class: 'facts' },
      ...[['Request', a.id], ['Status', a.status], ['Agent', a.agent], ['Principal', a.principal], ['Client', a.client || a.initiating_client],
        ['Capability', a.capability], ['Why held', a.reason], ['Rule', a.rule], ['Requested', time(a.requested_at)], ['Deadline', time(a.deadline)],
        ['Decided by', a.decided_by], ['Decision reason', a.decision_reason]]
        .filter(([, v]) => v !== null && v !== undefined && v !== '').flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
    const effect = el('div', { class: 'effect' }, el('p', { class: 'muted' }, 'Working out what approving will do…'));
    const parts = [facts, el('h3', {}, 'What approving will do'), effect, el('h3', {}, 'Arguments'), el('pre', { class: 'args' }, json(a.arguments))];
    if (a.status === 'pending') {
      const reason = el('input', { type: 'text', class: 'reason', maxlength: '1000', placeholder: 'Reason (optional; recorded in the audit log)', 'aria-label': 'Reason' });
      const result = el('p', { class: 'result', role: 'status' });
      const decide = async (approve) => {
        const res = await api(`/api/approvals/${encodeURIComponent(id)}/${approve ? 'approve' : 'reject'}`, { method: 'POST', body: { reason: reason.value } });
        if (res.ok) { result.textContent = (approve ? 'Approved' : 'Rejected') + '.'; toast(`${id} ${res.body.status}`); }
        else if (res.status === 409) result.textContent = `Already ${res.body && res.body.status ? res.body.status : 'decided'}: nothing changed.`;
        else if (res.status === 404) result.textContent = 'This request no longer exists.';
        else result.textContent = message(res.body, 'Refused (' + res.status + ')');
        result.className = 'result ' + (res.ok ? 'ok' : 'error');
        setTimeout(load, 800);
      };
      parts.push(el('div', { class: 'decide' },
        el('button', { type: 'button', class: 'approve', onclick: () => decide(true) }, 'Approve'),
        reason,
        el('button', { type: 'button', class: 'reject', onclick: () => decide(false) }, 'Reject')), result);
    }
    box.replaceChildren(...parts);
    const p = await api('/api/approvals/' + encodeURIComponent(id) + '/preview');
    if (!p.ok) { effect.replaceChildren(el('p', { class: 'muted' }, message(p.body, 'No preview.'))); return; }
    const e = p.body;
    const nodes = [el('p', { class: 'summary' }, e.summary)];
    if (e.command_line) nodes.push(el('pre', { class: 'command' }, e.command_line), el('p', { class: 'muted' }, 'in ' + e.working_directory));
    if (e.url) nodes.push(el('pre', { class: 'command' }, e.method + ' ' + e.url));
    if (e.diff) nodes.push(diff(e.diff));
    effect.replaceChildren(...nodes);
  }

  load();
  // Live: approval events from the activity stream; a slow poll as a fallback.
  const es = new EventSource('/api/activity/stream?type=approval_requested,approval_resolved');
  es.addEventListener('approval_requested', load);
  es.addEventListener('approval_resolved', load);
  setInterval(load, 5000);
})();

'use strict';
(() => {
  const { api, el, content, time, json, message, toast, diff } = K;
  const tabs = ['pending', 'approved', 'rejected', 'timed_out', 'all'];
  let status = 'pending';
  let known = new Set();

  async function load() {
    const r = await api('/api/approvals?status=' + status);
    if (!r.ok) { content(el('p', { class: 'error' }, message(r.body, 'Could not load approvals (' + r.status + ')'))); return; }
    const list = r.body.approvals;
    const fresh = list.filter(a => !known.has(a.id));
    if (known.size > 0 && status === 'pending' && fresh.length > 0) toast(fresh.length + ' new approval request(s) pending');
    known = new Set(list.map(a => a.id));
    render(list);
  }

  // Rows are kept across refreshes (same id and status: the same element, open or not, with whatever reason is being
  // typed), so a live refresh never takes a request from under the operator's cursor.
  const rows = new Map();
  let nav = null;
  let box = null;

  function render(list) {
    if (!nav) {
      nav = el('div', { class: 'tabs', role: 'tablist' }, tabs.map(t =>
        el('button', { type: 'button', role: 'tab', 'data-status': t, onclick: () => { status = t; known = new Set(); load(); } }, t.replace('_', ' '))));
      box = el('div', { id: 'approvals' });
      content(nav, box);
    }
    for (const b of nav.children) b.setAttribute('aria-selected', b.getAttribute('data-status') === status ? 'true' : 'false');
    const next = [];
    for (const a of list) {
      const key = a.id + '|' + a.status;
      let node = rows.get(key);
      if (!node) { node = row(a); rows.set(key, node); }
      next.push(node);
    }
    for (const [key, node] of rows) if (!next.includes(node)) rows.delete(key);
    if (next.length === 0) next.push(el('p', { class: 'muted', id: 'empty' }, status === 'pending' ? 'No pending approvals.' : 'Nothing here.'));
    box.replaceChildren(...next);
  }

  function row(a) {
    const d = el('details', { class: 'approval', 'data-id': a.id, 'data-status': a.status },
      el('summary', {}, el('span', { class: 'cap' }, a.capability), ' ', el('span', { class: 'agent' }, a.agent),
        ' ', el('span', { class: 'badge ' + a.status }, a.status), ' ', el('span', { class: 'muted' }, time(a.requested_at))),
      el('div', { class: 'body' }, el('p', { class: 'muted' }, 'Loading…')));
    let loaded = false;
    d.addEventListener('toggle', () => {
      if (d.open && !loaded) { loaded = true; detail(a.id, d.querySelector('.body')); }
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
        if (res.ok) { result.textContent = (approve ? 'Approved' : 'Rejected') + '.'; toast(`${id}: ${res.body.status}`); }
        else if (res.status === 409) result.textContent = `Already ${res.body && res.body.status ? res.body.status : 'decided'}: nothing changed.`;
        else if (res.status === 404) result.textContent = 'This request no longer exists.';
        else result.textContent = message(res.body, 'Refused (' + res.status + ')');
        result.className = 'result ' + (res.ok ? 'ok' : 'error');
        for (const b of box.querySelectorAll(`details[data-id="${CSS.escape(id)}"] .decide button`)) b.disabled = true;
        setTimeout(load, 1500);
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

// KruxOS dashboard: shared helpers. Data from the API is only ever inserted as text nodes (never as HTML).
'use strict';
const K = (() => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.getAttribute('content') : '';

  async function api(path, opts) {
    opts = opts || {};
    const method = opts.method || 'GET';
    const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' };
    // A periodic refresh is not the operator's activity: it does not keep the session from idling out.
    if (opts.background) init.headers['X-KruxOS-Background'] = '1';
    if (method !== 'GET') {
      init.headers['X-CSRF-Token'] = csrf;
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.body || {});
    }
    const r = await fetch(path, init);
    if (r.status === 401) {
      location.assign('/signin?next=' + encodeURIComponent(location.pathname));
      throw new Error('signed out');
    }
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    return { status: r.status, ok: r.ok, body };
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function content(...nodes) {
    const c = document.getElementById('content');
    c.replaceChildren(...nodes);
    return c;
  }

  function time(s) { return s ? new Date(s).toLocaleString() : '—'; }

  function json(v) { return JSON.stringify(v, null, 2); }

  function message(body, fallback) {
    if (body && (body.message || body.description)) return body.message || body.description;
    return fallback;
  }

  function toast(text, kind) {
    let box = document.getElementById('toasts');
    if (!box) { box = el('div', { id: 'toasts', role: 'status' }); document.body.append(box); }
    const t = el('div', { class: 'toast ' + (kind || '') }, text);
    box.append(t);
    while (box.children.length > 3) box.firstChild.remove();
    setTimeout(() => t.remove(), 4000);
  }

  // A diff from the preview API: lines of [kind, text]
  function diff(d) {
    if (!d) return null;
    if (!d.available) return el('p', { class: 'muted' }, d.note || 'no diff');
    const pre = el('pre', { class: 'diff' });
    for (const [kind, text] of d.lines) {
      const cls = kind === '+' ? 'add' : kind === '-' ? 'del' : kind === '@' || kind === 'h' ? 'hunk' : 'ctx';
      pre.append(el('span', { class: cls }, (kind === '+' || kind === '-' ? kind : kind === ' ' ? ' ' : '') + text), '\n');
    }
    const summary = el('p', { class: 'muted' }, `+${d.added} −${d.removed}` + (d.truncated ? ' (shortened)' : '') + (d.file_exists === false ? ' · new file' : ''));
    return el('div', {}, summary, pre);
  }

  function qs(params) {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== '' && v !== null && v !== undefined) u.set(k, v);
    const s = u.toString();
    return s ? '?' + s : '';
  }

  // Every signed-in page: the number of pending alerts on the Alerts link and, while critical alerts are pending, a banner
  // under the navigation. Alert messages are written by agents: text nodes only, like everything else.
  let shownAlerts = '';
  async function alerts(background) {
    const link = document.querySelector('header.top nav a[href="/alerts"]');
    if (!link) return;
    let r;
    try { r = await api('/api/alerts/summary', { background: background === true }); } catch (e) { return; }
    if (!r.ok || !r.body) return;
    const s = r.body;
    let badge = document.getElementById('alerts-badge');
    if (!badge) { badge = el('span', { id: 'alerts-badge' }); link.append(' ', badge); }
    badge.textContent = String(s.pending);
    badge.className = 'badge count' + (s.critical > 0 ? ' critical' : '');
    badge.hidden = s.pending === 0;
    link.setAttribute('aria-label', `Alerts (${s.pending} pending, ${s.critical} critical)`);
    const key = JSON.stringify([s.critical, s.critical_alerts.map(a => [a.alert_id, a.count])]);
    if (key === shownAlerts) return;
    shownAlerts = key;
    const old = document.getElementById('critical-banner');
    if (s.critical === 0) { if (old) old.remove(); return; }
    const banner = el('div', { id: 'critical-banner', class: 'banner critical', role: 'alert' },
      el('strong', {}, s.critical === 1 ? '1 critical alert pending' : `${s.critical} critical alerts pending`),
      el('ul', {}, s.critical_alerts.map(a => el('li', { 'data-id': a.alert_id },
        el('span', { class: 'source' }, a.source), ': ', el('span', { class: 'text' }, a.message), a.count > 1 ? ` (×${a.count})` : ''))),
      el('a', { href: '/alerts' }, 'Review and acknowledge'));
    if (old) old.replaceWith(banner); else document.querySelector('header.top').after(banner);
  }
  if (document.querySelector('header.top nav')) {
    alerts();
    setInterval(() => alerts(true), 15000);
  }

  return { api, el, content, time, json, message, toast, diff, qs, csrf, alerts };
})();

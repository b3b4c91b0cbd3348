'use strict';
// Secrets: the vault's state, the listing (never a value), add, rotate and revoke. A value typed here goes to the API once:
// the field is emptied before the request is sent and the value is never put anywhere else on the page.
(() => {
  const { api, el, content, time, message, toast } = K;
  let includeRevoked = false;

  function valueField(id) {
    return el('input', { type: 'password', name: 'value', id, required: true, autocomplete: 'new-password', spellcheck: 'false',
      autocapitalize: 'off', placeholder: 'value (not shown again)', 'aria-label': 'Value' });
  }

  // Takes the value out of its field (the field is emptied at once) and posts it; the answer never holds it.
  async function send(path, field, extra) {
    const value = field.value;
    field.value = '';
    return api(path, { method: 'POST', body: Object.assign({}, extra, { value }) });
  }

  function list(text) { return text.split(/[\s,]+/).filter(x => x.length > 0); }

  function addForm() {
    const value = valueField('secret-value');
    const form = el('form', { class: 'create', id: 'add-secret', method: 'post', autocomplete: 'off', onsubmit: async (ev) => {
      ev.preventDefault();
      const name = form.elements.name.value.trim();
      const r = await send('/api/vault/secrets', value, {
        name, type: form.elements.type.value,
        allowed_capabilities: list(form.elements.capabilities.value), allowed_hosts: list(form.elements.hosts.value) });
      if (!r.ok) { toast(message(r.body, 'add failed (' + r.status + ')'), 'error'); return; }
      form.reset();
      toast(`${r.body.secret.name}: added (version ${r.body.secret.version})`);
      load();
    } },
      el('input', { name: 'name', placeholder: 'name', required: true, 'aria-label': 'Name', spellcheck: 'false', autocapitalize: 'off' }),
      el('select', { name: 'type', 'aria-label': 'Type' }, el('option', { value: 'api_key' }, 'api_key'), el('option', { value: 'oauth_token' }, 'oauth_token')),
      el('input', { name: 'capabilities', placeholder: 'allowed capabilities (comma)', 'aria-label': 'Allowed capabilities', spellcheck: 'false' }),
      el('input', { name: 'hosts', placeholder: 'allowed hosts (comma)', 'aria-label': 'Allowed hosts', spellcheck: 'false' }),
      value,
      el('button', { type: 'submit' }, 'Add secret'));
    return form;
  }

  function rotateForm(s, cell) {
    const value = valueField('rotate-value');
    const form = el('form', { class: 'inline rotate', method: 'post', autocomplete: 'off', onsubmit: async (ev) => {
      ev.preventDefault();
      const r = await send(`/api/vault/secrets/${encodeURIComponent(s.name)}/rotate`, value, {});
      if (!r.ok) { toast(message(r.body, 'rotate failed (' + r.status + ')'), 'error'); return; }
      toast(`${s.name}: rotated (version ${r.body.secret.version})`);
      load();
    } }, value, el('button', { type: 'submit' }, 'Store new value'), el('button', { type: 'button', onclick: () => load() }, 'Cancel'));
    cell.replaceChildren(form);
    value.focus();
  }

  async function revoke(s) {
    if (!confirm(`Revoke secret ${s.name}? It can never be used again.`)) return;
    const r = await api(`/api/vault/secrets/${encodeURIComponent(s.name)}/revoke`, { method: 'POST', body: { reason: 'revoked on the dashboard' } });
    if (!r.ok) { toast(message(r.body, 'revoke failed (' + r.status + ')'), 'error'); return; }
    toast(`${s.name}: revoked`);
    load();
  }

  function state(s) {
    if (s.revoked) return el('span', { class: 'badge revoked' }, 'revoked');
    if (s.needs_attention) return el('span', { class: 'badge pending', title: s.attention_reason || '' }, 'needs rotation');
    return el('span', { class: 'badge active' }, 'active');
  }

  async function load() {
    const [st, r] = await Promise.all([api('/api/vault'), api('/api/vault/secrets' + (includeRevoked ? '?include_revoked=true' : ''))]);
    if (!st.ok || !r.ok) { content(el('p', { class: 'error' }, message((st.ok ? r : st).body, 'Could not load the vault'))); return; }
    const v = st.body;
    const head = el('p', { id: 'vault-state' }, 'Vault: ', el('span', { class: 'badge ' + (v.state === 'unlocked' ? 'active' : 'blocked') }, v.state),
      ` · ${v.secrets} secret(s) · ${v.revoked} revoked`);
    const notice = v.state === 'unlocked' ? null : el('p', { class: 'notice' }, v.state === 'locked'
      ? 'The vault is locked on this node: adding and rotating need it unlocked. Unlock it on the host with "kruxos vault unlock".'
      : 'No vault yet: create one on the host with "kruxos vault init".');
    const attention = v.needs_attention.length === 0 ? null : el('section', { id: 'attention' }, el('h2', {}, 'Needs attention'),
      el('ul', {}, v.needs_attention.map(a => el('li', {}, el('span', { class: 'cap' }, a.name), ': ', a.reason))));
    const toggle = el('label', {}, el('input', { type: 'checkbox', id: 'include-revoked', checked: includeRevoked,
      onchange: (ev) => { includeRevoked = ev.target.checked; load(); } }), ' show revoked');
    const table = el('table', { id: 'secrets' }, el('thead', {}, el('tr', {}, ['Name', 'Type', 'Allowed capabilities', 'Allowed hosts', 'Version', 'Created', 'Rotated', 'State', '']
      .map(h => el('th', {}, h)))),
      el('tbody', {}, r.body.secrets.map(s => {
        const actions = el('td', { class: 'actions' });
        if (!s.revoked && !s.managed) actions.append(
          el('button', { type: 'button', class: 'rotate', onclick: () => rotateForm(s, actions) }, 'rotate'), ' ',
          el('button', { type: 'button', class: 'revoke', onclick: () => revoke(s) }, 'revoke'));
        return el('tr', { 'data-name': s.name }, el('td', { class: 'cap' }, s.name), el('td', {}, s.type), el('td', {}, s.allowed_capabilities.join(', ')),
          el('td', {}, s.allowed_hosts.join(', ')), el('td', {}, s.version), el('td', {}, time(s.created_at)), el('td', {}, time(s.rotated_at)),
          el('td', {}, state(s)), actions);
      })));
    content(...[head, notice, attention, addForm(), toggle, el('div', { class: 'scroll' }, table),
      r.body.secrets.length === 0 ? el('p', { class: 'muted', id: 'empty' }, 'No secrets.') : null].filter(n => n !== null));
  }
  load();
})();

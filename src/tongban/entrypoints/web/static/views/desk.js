// 医院窗口 Hospital desk: the HIS API by hand, with the institution's key: register a visit,
// enter bill lines, preview, settle (idempotent by settlement id), cancel.

import { ApiError, demo, get, request } from '../api.js';
import { badge, clear, field, h, table } from '../dom.js';
import { errorText, t } from '../i18n.js';
import { isQuantity, lineAmount, parseYuan, yuan } from '../money.js';
import { placeCell, placeName, regionOptions } from '../places.js';
import { codePicker } from './picker.js';
import { classBadge, linesTable, splitSummary, statusTone } from './split.js';

function freshId() {
  const random = Math.random().toString(36).slice(2, 8).padEnd(6, '0');
  return `desk-${Date.now()}-${random}`;
}

// Kept across re-renders (language switch) so nothing typed is lost.
const state = {
  region: '310000', institution: '', apiKey: '', idNumber: '', medType: 'outpatient',
  visit: null, lines: [], result: null, settlementId: freshId(), useAccount: true, lastSettle: null,
};

function visitPanel(panel) {
  const v = state.visit;
  if (!v) {
    clear(panel, h('p', { class: 'muted' }, t('desk.noVisit')));
    panel.removeAttribute('data-visit-id');
    return;
  }
  panel.setAttribute('data-visit-id', v.visit_id);
  clear(panel,
    h('div', { class: 'visit-who' },
      h('div', { class: 'avatar' }, (v.masked_name || '?').slice(0, 1)),
      h('div', null, h('div', { class: 'visit-name' }, v.masked_name), h('div', { class: 'mono muted' }, v.masked_id))),
    h('dl', { class: 'facts' },
      h('dt', null, t('col.homeRegion')), h('dd', null, placeCell(v.home_region)),
      h('dt', null, t('policy.insutype')), h('dd', null, t(`insutype.${v.insutype}`, null, v.insutype)),
      h('dt', null, t('col.medType')), h('dd', null, t(`med.${v.med_type}`, null, v.med_type), v.emergency ? ` · ${t('desk.emergency')}` : ''),
      h('dt', null, t('desk.visitDate')), h('dd', null, v.visit_date),
      h('dt', null, t('desk.filings')), h('dd', null, v.filed.length
        ? v.filed.map((f) => badge(t(`filing.${f}`, null, f), 'ok'))
        : badge(t('desk.notFiled'), 'warn')),
      h('dt', null, t('desk.visitId')), h('dd', { class: 'mono small' }, v.visit_id)));
}

function resultPanel(panel) {
  const r = state.result;
  if (!r) {
    panel.removeAttribute('data-status');
    clear(panel, h('p', { class: 'muted' }, t('desk.noResult')));
    return;
  }
  panel.setAttribute('data-status', r.status);
  const head = h('div', { class: 'result-head' },
    badge(t(`status.${r.status}`, null, r.status), statusTone(r.status)),
    r.settlement_id ? h('code', { class: 'id' }, r.settlement_id) : null,
    r.filing ? h('span', { class: 'muted' }, `${t('desk.filing')}: ${t(`filing.${r.filing}`, null, r.filing)}`) : null);
  const parts = [head];
  if (r.message) parts.push(h('p', { class: `result-msg tone-${statusTone(r.status) || 'info'}` }, r.message));
  if (r.status === 'UNKNOWN' || r.status === 'PENDING') {
    parts.push(h('button', { type: 'button', class: 'btn', onclick: () => settle(true) }, t('desk.retry')));
  }
  if (r.split) parts.push(splitSummary(r.split));
  if (r.lines?.length) parts.push(h('h4', null, t('split.linesTitle')), linesTable(r.lines));
  clear(panel, parts);
}

let ui; // the elements of the current render

function render() {
  visitPanel(ui.visitPanel);
  resultPanel(ui.resultPanel);
  linesView();
}

function linesView() {
  const total = state.lines.reduce((sum, l) => sum + (lineAmount(l.quantity, l.unit_price) ?? 0), 0);
  clear(ui.linesBox,
    table({
      testid: 'desk-lines',
      rows: state.lines,
      row: (l) => ({ 'data-code': l.code }),
      empty: t('desk.noLines'),
      columns: [
        { label: t('col.item'), className: 'wrap', cell: (l) => h('span', null, l.name || t('desk.unknownItem'), h('small', { class: 'code' }, l.code)) },
        { label: t('col.class'), cell: (l) => (l.cls === undefined ? '…' : classBadge(l.cls)) },
        { label: t('col.quantity'), num: true, cell: (l) => l.quantity },
        { label: t('col.unitPrice'), num: true, cell: (l) => yuan(l.unit_price) },
        { label: t('col.amount'), num: true, cell: (l) => yuan(lineAmount(l.quantity, l.unit_price)) },
        {
          label: '', cell: (l) => h('button', {
            type: 'button', class: 'btn btn-small btn-ghost', 'aria-label': t('desk.remove'),
            onclick: () => { state.lines = state.lines.filter((x) => x !== l); linesView(); },
          }, '✕'),
        },
      ],
    }),
    state.lines.length ? h('div', { class: 'lines-total' }, t('desk.linesTotal', { n: state.lines.length }), h('strong', null, yuan(total))) : null);
}

function key() {
  return state.apiKey.trim();
}

function node() {
  return `/nodes/${state.region}/v1`;
}

function wireLines() {
  return state.lines.map((l) => ({ code: l.code, quantity: l.quantity, unit_price: l.unit_price }));
}

async function guarded(button, fn) {
  ui.ctx.clearError();
  button.disabled = true;
  try {
    await fn();
  } catch (exc) {
    ui.ctx.fail(exc);
  } finally {
    button.disabled = false;
  }
}

function needVisit() {
  if (state.visit) return true;
  ui.ctx.fail(new ApiError(0, 'NO_VISIT', t('desk.registerFirst')));
  return false;
}

function needLines() {
  if (state.lines.length) return true;
  ui.ctx.fail(new ApiError(0, 'NO_LINES', t('desk.addLinesFirst')));
  return false;
}

async function register() {
  state.idNumber = ui.idInput.value.trim();
  const { data } = await request(`${node()}/visits`, {
    method: 'POST', token: key(),
    body: { institution_code: state.institution, id_number: state.idNumber, med_type: state.medType },
  });
  if (state.visit && state.visit.visit_id !== data.visit_id) state.lines = []; // a new patient's bill
  state.visit = data;
  state.result = null;
  state.settlementId = freshId();
  ui.idField.value = state.settlementId;
  render();
}

async function preview() {
  if (!needVisit() || !needLines()) return;
  const { data } = await request(`${node()}/visits/${state.visit.visit_id}/preview`, {
    method: 'POST', token: key(), body: { lines: wireLines(), use_account: state.useAccount },
  });
  state.result = { status: 'PREVIEW', message: t('desk.previewMsg'), ...data };
  render();
}

async function settle(retry = false) {
  if (!needVisit() || (!retry && !needLines())) return;
  const body = retry && state.lastSettle ? state.lastSettle : {
    settlement_id: ui.idField.value.trim(), visit_id: state.visit.visit_id, lines: wireLines(),
    use_account: state.useAccount,
  };
  state.lastSettle = body;
  state.settlementId = body.settlement_id;
  try {
    const { status, data } = await request(`${node()}/settlements`, { method: 'POST', token: key(), body });
    const message = status === 202 ? t('desk.unknownMsg') : t(`desk.msg.${data.status}`, null, '');
    state.result = { ...data, message };
  } catch (exc) {
    if (exc instanceof ApiError && exc.status >= 400) {
      state.result = { status: 'REFUSED', settlement_id: body.settlement_id, message: `${exc.code} · ${errorText(exc.code)}` };
    }
    throw exc;
  } finally {
    render();
  }
}

async function cancel() {
  const id = ui.idField.value.trim();
  const { status, data } = await request(`${node()}/settlements/${encodeURIComponent(id)}/cancel`, {
    method: 'POST', token: key(),
  });
  state.result = { ...data, message: status === 202 ? t('desk.cancellingMsg') : t('desk.msg.CANCELLED') };
  render();
}

export async function renderDesk(root, ctx) {
  const sample = await demo().catch(() => null);
  if (!ctx.alive()) return;
  const institutions = sample?.institutions || [];
  const residents = sample?.residents || [];

  const regionSelect = h('select', { class: 'input', testid: 'desk-region' }, regionOptions({ selected: state.region }));
  const instSelect = h('select', { class: 'input', testid: 'desk-institution' });
  const keyInput = h('input', { class: 'input mono', testid: 'desk-api-key', autocomplete: 'off', spellcheck: 'false', placeholder: 'tbk_…', value: state.apiKey });
  const residentSelect = h('select', { class: 'input', testid: 'desk-resident' },
    h('option', { value: '' }, t('desk.pickResident')),
    residents.map((r) => h('option', { value: r.id_number },
      `${r.name} · ${placeName(r.home_region)} · ${r.id_number.slice(0, 6)}…${r.id_number.slice(-4)} · ${t(`insutype.${r.insutype}`, null, r.insutype)}${r.filed?.length ? ` · ${t('desk.filedTo', { to: r.filed.map((c) => placeName(c)).join('、') })}` : ''}`)));
  const idInput = h('input', { class: 'input mono', testid: 'desk-id-number', maxlength: '18', autocomplete: 'off', placeholder: t('desk.idPlaceholder'), value: state.idNumber });
  if (residents.some((r) => r.id_number === state.idNumber)) residentSelect.value = state.idNumber;
  const medSelect = h('select', { class: 'input', testid: 'desk-med-type' },
    h('option', { value: 'outpatient' }, t('med.outpatient')), h('option', { value: 'inpatient' }, t('med.inpatient')));
  medSelect.value = state.medType;

  const fillInstitutions = async () => {
    const own = institutions.filter((i) => i.region === state.region);
    let options = own.map((i) => ({ code: i.code, name: i.name, key: i.api_key }));
    if (!options.length) {
      // No demo key here: list the region's enabled institutions; the integrator pastes a key.
      const listed = await get(`/nodes/${state.region}/v1/reference/institutions?enabled=true`).catch((exc) => { ctx.fail(exc); return []; });
      options = listed.slice(0, 200).map((i) => ({ code: i.code, name: i.name, key: '' }));
    }
    clear(instSelect, options.map((o) => h('option', { value: o.code, 'data-key': o.key }, `${o.name} · ${o.code}`)));
    if (options.some((o) => o.code === state.institution)) instSelect.value = state.institution;
    const chosen = options.find((o) => o.code === instSelect.value);
    state.institution = chosen?.code || '';
    if (!state.apiKey && chosen?.key) state.apiKey = chosen.key;
    keyInput.value = state.apiKey;
  };

  regionSelect.addEventListener('change', async () => {
    state.region = regionSelect.value;
    state.institution = '';
    state.apiKey = '';
    state.visit = null;
    state.result = null;
    await fillInstitutions();
    render();
  });
  instSelect.addEventListener('change', () => {
    state.institution = instSelect.value;
    const key = instSelect.selectedOptions[0]?.dataset.key;
    if (key) { state.apiKey = key; keyInput.value = key; }
  });
  keyInput.addEventListener('input', () => { state.apiKey = keyInput.value; });
  residentSelect.addEventListener('change', () => { if (residentSelect.value) { idInput.value = residentSelect.value; state.idNumber = idInput.value; } });
  idInput.addEventListener('input', () => { state.idNumber = idInput.value; });
  medSelect.addEventListener('change', () => { state.medType = medSelect.value; });

  const registerBtn = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'desk-register' }, t('desk.register'));
  const registerForm = h('form', {
    class: 'form-grid', onsubmit: (event) => { event.preventDefault(); guarded(registerBtn, register); },
  },
  field(t('desk.region'), regionSelect), field(t('desk.institution'), instSelect),
  field(t('desk.apiKey'), keyInput, t('desk.apiKeyHint')),
  field(t('desk.resident'), residentSelect), field(t('desk.idNumber'), idInput),
  field(t('col.medType'), medSelect),
  h('div', { class: 'form-actions' }, registerBtn));

  // --- bill lines ---
  const qtyInput = h('input', { class: 'input mono', testid: 'desk-line-quantity', value: '1', inputmode: 'decimal' });
  const priceInput = h('input', { class: 'input mono', testid: 'desk-line-price', inputmode: 'decimal', placeholder: '0.00' });
  let picked = null;
  const picker = codePicker(node, priceInput, (item) => { picked = item; }, ctx.fail);
  const addBtn = h('button', { type: 'submit', class: 'btn', testid: 'desk-add-line' }, t('desk.addLine'));
  const lineForm = h('form', {
    class: 'line-form',
    onsubmit: (event) => {
      event.preventDefault();
      ctx.clearError();
      const code = picker.input.value.trim();
      const quantity = qtyInput.value.trim();
      const price = parseYuan(priceInput.value);
      if (!code) return ctx.fail(new ApiError(0, 'INVALID_LINE', t('desk.needCode')));
      if (!isQuantity(quantity)) return ctx.fail(new ApiError(0, 'INVALID_LINE', t('desk.badQuantity')));
      if (price === null) return ctx.fail(new ApiError(0, 'INVALID_AMOUNT', t('desk.badPrice')));
      const line = { code, quantity, unit_price: price, name: picked?.code === code ? picked.name : null, cls: picked?.code === code ? picked.class : undefined };
      state.lines.push(line);
      if (line.cls === undefined) {
        // Typed by hand: look the code up for its name and class (null: not in the catalogue).
        get(`${node()}/reference/catalogue?${new URLSearchParams({ q: code, limit: '5' })}`).then((page) => {
          const item = page.items.find((i) => i.code === code);
          line.name = item?.name ?? null;
          line.cls = item?.class ?? null;
          if (ui) linesView();
        }).catch(() => { line.cls = null; if (ui) linesView(); });
      }
      picker.input.value = '';
      qtyInput.value = '1';
      priceInput.value = '';
      picked = null;
      linesView();
      picker.input.focus();
    },
  },
  field(t('desk.lineCode'), picker.box), field(t('col.quantity'), qtyInput), field(t('desk.linePrice'), priceInput),
  h('div', { class: 'form-actions' }, addBtn));

  // --- settle ---
  const idField = h('input', { class: 'input mono', testid: 'desk-settlement-id', value: state.settlementId });
  idField.addEventListener('input', () => { state.settlementId = idField.value; });
  const accountBox = h('input', { type: 'checkbox', checked: state.useAccount, onchange: (e) => { state.useAccount = e.target.checked; } });
  const previewBtn = h('button', { type: 'button', class: 'btn', testid: 'desk-preview' }, t('desk.preview'));
  const settleBtn = h('button', { type: 'button', class: 'btn btn-primary', testid: 'desk-settle' }, t('desk.settle'));
  const cancelBtn = h('button', { type: 'button', class: 'btn btn-danger', testid: 'desk-cancel' }, t('desk.cancel'));
  previewBtn.addEventListener('click', () => guarded(previewBtn, preview));
  settleBtn.addEventListener('click', () => guarded(settleBtn, () => settle(false)));
  cancelBtn.addEventListener('click', () => guarded(cancelBtn, cancel));

  ui = {
    ctx, idInput, idField,
    visitPanel: h('div', { class: 'visit-panel', testid: 'desk-visit' }),
    resultPanel: h('div', { class: 'result-panel', testid: 'desk-result' }),
    linesBox: h('div'),
  };

  root.append(
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, t('desk.title')), h('p', { class: 'lead' }, t('desk.lead')))),
    h('div', { class: 'stack' }, h('div', { class: 'grid grid-desk' },
      h('section', { class: 'card' },
        h('header', { class: 'card-head' }, h('h2', null, h('span', { class: 'step' }, '1'), t('desk.step1'))),
        h('div', { class: 'card-body' }, registerForm)),
      h('section', { class: 'card' },
        h('header', { class: 'card-head' }, h('h2', null, t('desk.visitTitle'))),
        h('div', { class: 'card-body' }, ui.visitPanel))),
    h('section', { class: 'card' },
      h('header', { class: 'card-head' }, h('h2', null, h('span', { class: 'step' }, '2'), t('desk.step2')),
        h('span', { class: 'card-meta' }, t('desk.step2Meta'))),
      h('div', { class: 'card-body' }, lineForm),
      h('div', { class: 'card-body flush' }, ui.linesBox)),
    h('section', { class: 'card' },
      h('header', { class: 'card-head' }, h('h2', null, h('span', { class: 'step' }, '3'), t('desk.step3'))),
      h('div', { class: 'card-body' },
        h('div', { class: 'settle-bar' },
          field(t('desk.settlementId'), h('div', { class: 'input-group' }, idField,
            h('button', { type: 'button', class: 'btn', title: t('desk.newId'), onclick: () => { state.settlementId = freshId(); idField.value = state.settlementId; } }, '↻'))),
          h('label', { class: 'check' }, accountBox, t('desk.useAccount')),
          h('div', { class: 'btn-row' }, previewBtn, settleBtn, cancelBtn)),
        ui.resultPanel))),
  );
  await fillInstitutions();
  render();
}

// 地区 Region: one node seen by its operators: settlements (masked), policies, catalogue,
// institutions. Settlements need the operator key; reference data is public.

import { get, operatorGet } from '../api.js';
import { isDay } from '../dates.js';
import { badge, clear, debounce, field, h, loading, table } from '../dom.js';
import { errorText, t } from '../i18n.js';
import { count, ratioPercent, yuan } from '../money.js';
import { placeCell, placeName, regionOptions } from '../places.js';
import { classBadge, linesTable, splitSummary, statusTone } from './split.js';

const PAGE = 20;
const LAST_REGION = 'tongban.region';

function pager(total, offset, limit, go) {
  const last = Math.max(0, Math.ceil(total / limit) - 1);
  const page = Math.floor(offset / limit);
  return h('div', { class: 'pager' },
    h('span', { class: 'muted' }, t('pager.range', {
      from: total ? count(offset + 1) : 0, to: count(Math.min(total, offset + limit)), total: count(total),
    })),
    h('button', { type: 'button', class: 'btn btn-small', disabled: page <= 0, onclick: () => go(offset - limit) }, t('pager.prev')),
    h('button', { type: 'button', class: 'btn btn-small', disabled: page >= last, onclick: () => go(offset + limit) }, t('pager.next')));
}

function settlementDetail(panel, node, id, ctx) {
  clear(panel, loading(t('app.loading')));
  panel.hidden = false;
  panel.removeAttribute('data-status');
  operatorGet(`${node}/operator/settlements/${encodeURIComponent(id)}`).then((s) => {
    if (!ctx.alive()) return;
    panel.setAttribute('data-status', s.status);
    clear(panel,
      h('div', { class: 'detail-head' },
        h('div', null, h('h3', null, t('region.detailTitle')), h('code', { class: 'id' }, s.settlement_id)),
        badge(t(`status.${s.status}`, null, s.status), statusTone(s.status)),
        h('button', { type: 'button', class: 'btn btn-small btn-ghost', onclick: () => { panel.hidden = true; } }, t('app.close'))),
      h('dl', { class: 'facts' },
        h('dt', null, t('col.person')), h('dd', null, `${s.masked_name} · `, h('span', { class: 'mono' }, s.masked_id)),
        h('dt', null, t('col.homeRegion')), h('dd', null, placeCell(s.home_region)),
        h('dt', null, t('col.institution')), h('dd', null, s.institution_name || '', h('small', { class: 'code' }, s.institution_code)),
        h('dt', null, t('col.medType')), h('dd', null, t(`med.${s.med_type}`, null, s.med_type)),
        h('dt', null, t('col.settledOn')), h('dd', null, s.settled_on),
        s.error_code ? [h('dt', null, t('col.error')), h('dd', null, h('code', null, s.error_code))] : null),
      s.split ? splitSummary(s.split) : h('p', { class: 'muted' }, t('split.none')),
      h('h4', null, t('split.linesTitle')),
      linesTable(s.lines || []));
  }).catch((exc) => {
    clear(panel, h('p', { class: 'muted' }, exc.code || String(exc)));
    ctx.fail(exc);
  });
}

function settlementsSection(node, ctx) {
  const idInput = h('input', { class: 'input mono', testid: 'region-search-id', placeholder: t('region.idPlaceholder') });
  const instInput = h('input', { class: 'input mono', testid: 'region-search-institution', placeholder: 'H31000000001' });
  const dateInput = h('input', { class: 'input', type: 'date', testid: 'region-search-date' });
  const results = h('div', null, loading(t('app.loading')));
  const panel = h('aside', { class: 'detail', testid: 'settlement-detail', hidden: true });
  let offset = 0;
  let asked = 0;

  const load = async () => {
    const mine = ++asked;
    const q = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
    if (idInput.value.trim()) q.set('settlement_id', idInput.value.trim());
    if (instInput.value.trim()) q.set('institution', instInput.value.trim());
    if (isDay(dateInput.value)) q.set('date', dateInput.value);
    clear(results, loading(t('app.loading')));
    const page = await operatorGet(`${node}/operator/settlements?${q}`);
    if (!ctx.alive() || mine !== asked) return; // an older, slower answer must not win
    clear(results,
      table({
        testid: 'region-settlements',
        rows: page.items,
        row: (s) => ({
          'data-settlement-id': s.settlement_id, class: 'clickable', tabindex: '0',
          onclick: () => settlementDetail(panel, node, s.settlement_id, ctx),
          onkeydown: (e) => { if (e.key === 'Enter') settlementDetail(panel, node, s.settlement_id, ctx); },
        }),
        empty: t('region.noSettlements'),
        columns: [
          { label: t('col.settlementId'), cell: (s) => h('code', null, s.settlement_id) },
          {
            label: t('col.status'),
            cell: (s) => [badge(t(`status.${s.status}`, null, s.status), statusTone(s.status)),
              s.error_code ? h('small', { class: 'code', title: errorText(s.error_code) }, s.error_code) : null],
          },
          { label: t('col.settledOn'), cell: (s) => s.settled_on },
          { label: t('col.institution'), className: 'wrap', cell: (s) => h('span', null, s.institution_name || '', h('small', { class: 'code' }, s.institution_code)) },
          { label: t('col.homeRegion'), cell: (s) => placeName(s.home_region) },
          { label: t('col.person'), cell: (s) => h('span', null, s.masked_name, h('small', { class: 'code' }, s.masked_id)) },
          { label: t('col.medType'), cell: (s) => t(`med.${s.med_type}`, null, s.med_type) },
          { label: t('col.medfee'), num: true, cell: (s) => yuan(s.medfee) },
          { label: t('col.fund'), num: true, cell: (s) => yuan(s.fund) },
          { label: t('col.cash'), num: true, cell: (s) => yuan(s.cash) },
        ],
      }),
      pager(page.total, offset, PAGE, (next) => { offset = Math.max(0, next); load().catch(ctx.fail); }));
  };

  const form = h('form', {
    class: 'toolbar toolbar-inline',
    onsubmit: (event) => { event.preventDefault(); ctx.clearError(); offset = 0; load().catch(ctx.fail); },
  },
  field(t('col.settlementId'), idInput), field(t('col.institution'), instInput), field(t('col.settledOn'), dateInput),
  h('button', { class: 'btn btn-primary', type: 'submit', testid: 'region-search-submit' }, t('region.search')),
  h('button', {
    class: 'btn', type: 'button',
    onclick: () => { idInput.value = ''; instInput.value = ''; dateInput.value = ''; form.requestSubmit(); },
  }, t('region.reset')));

  load().catch(ctx.fail);
  return h('section', { class: 'card' },
    h('header', { class: 'card-head' }, h('h2', null, t('region.settlementsTitle')),
      h('span', { class: 'card-meta' }, t('region.masked'))),
    h('div', { class: 'card-body' }, form),
    h('div', { class: 'split-pane' }, h('div', { class: 'card-body flush' }, results), panel));
}

function policiesSection(node, ctx) {
  const body = h('div', { class: 'card-body flush' }, loading(t('app.loading')));
  get(`${node}/reference/policies`).then((rows) => {
    if (!ctx.alive()) return;
    const sorted = [...rows].sort((a, b) => a.insutype.localeCompare(b.insutype)
      || a.med_type.localeCompare(b.med_type) || a.level - b.level);
    clear(body, table({
      testid: 'region-policies',
      rows: sorted,
      empty: t('app.none'),
      columns: [
        { label: t('policy.insutype'), cell: (p) => t(`insutype.${p.insutype}`, null, p.insutype) },
        { label: t('col.medType'), cell: (p) => t(`med.${p.med_type}`, null, p.med_type) },
        { label: t('policy.level'), num: true, cell: (p) => t('policy.levelN', { n: p.level }) },
        { label: t('policy.deductible'), num: true, cell: (p) => yuan(p.deductible) },
        { label: t('policy.deductibleSubsequent'), num: true, cell: (p) => yuan(p.deductible_subsequent) },
        { label: t('policy.ratio'), num: true, cell: (p) => ratioPercent(p.ratio) },
        { label: t('policy.cap'), num: true, cell: (p) => yuan(p.annual_cap) },
        {
          label: t('policy.reduction'), className: 'wrap',
          cell: (p) => Object.entries(p.reduction || {}).map(([k, v]) => `${t(`reduction.${k}`, null, k)} ${v === null ? t('reduction.refused') : `−${ratioPercent(v)}`}`).join(t('explain.sep')),
        },
        {
          label: t('policy.account'), className: 'wrap',
          cell: (p) => ((p.account_covers || []).length ? p.account_covers.map((k) => t(`covers.${k}`, null, k)).join(t('explain.listSep')) : t('covers.none')),
        },
      ],
    }));
  }).catch((exc) => { clear(body, h('p', { class: 'empty' }, exc.code || String(exc))); ctx.fail(exc); });
  return h('section', { class: 'card' },
    h('header', { class: 'card-head' }, h('h2', null, t('region.policiesTitle')),
      h('span', { class: 'card-meta' }, t('region.sample'))),
    body);
}

function catalogueSection(node, ctx) {
  const search = h('input', {
    class: 'input', type: 'search', testid: 'region-catalogue-search', placeholder: t('region.catalogueSearch'),
  });
  const results = h('div', null, loading(t('app.loading')));
  let offset = 0;
  let asked = 0;
  const load = async () => {
    const mine = ++asked;
    const q = new URLSearchParams({ q: search.value.trim(), limit: String(PAGE), offset: String(offset) });
    const page = await get(`${node}/reference/catalogue?${q}`);
    if (!ctx.alive() || mine !== asked) return; // a slower, older answer must not win
    clear(results,
      table({
        testid: 'region-catalogue',
        rows: page.items,
        row: (c) => ({ 'data-code': c.code }),
        empty: t('region.noItems'),
        columns: [
          { label: t('col.code'), cell: (c) => h('code', null, c.code) },
          { label: t('col.name'), className: 'wrap', cell: (c) => c.name },
          { label: t('col.class'), cell: (c) => classBadge(c.class) },
          { label: t('col.selfpayRatio'), num: true, cell: (c) => ratioPercent(c.selfpay_ratio) },
          { label: t('col.priceCap'), num: true, cell: (c) => (c.price_cap === null ? t('app.noCap') : yuan(c.price_cap)) },
        ],
      }),
      pager(page.total, offset, PAGE, (next) => { offset = Math.max(0, next); load().catch(ctx.fail); }));
  };
  search.addEventListener('input', debounce(() => { offset = 0; load().catch(ctx.fail); }, 250));
  load().catch(ctx.fail);
  return h('section', { class: 'card' },
    h('header', { class: 'card-head' }, h('h2', null, t('region.catalogueTitle'))),
    h('div', { class: 'card-body' }, search),
    h('div', { class: 'card-body flush' }, results));
}

function institutionsSection(node, ctx) {
  const filter = h('input', { class: 'input', type: 'search', placeholder: t('region.institutionFilter') });
  const body = h('div', { class: 'card-body flush scroll-y tall' }, loading(t('app.loading')));
  const meta = h('span', { class: 'card-meta' });
  let all = [];
  const show = () => {
    const q = filter.value.trim().toLowerCase();
    const rows = q ? all.filter((i) => i.code.toLowerCase().includes(q) || i.name.toLowerCase().includes(q)) : all;
    meta.textContent = t('region.institutionsMeta', { n: count(rows.length), total: count(all.length) });
    clear(body, table({
      testid: 'region-institutions',
      rows,
      row: (i) => ({ 'data-code': i.code }),
      empty: t('app.none'),
      columns: [
        { label: t('col.code'), cell: (i) => h('code', null, i.code) },
        { label: t('col.name'), className: 'wrap', cell: (i) => i.name },
        { label: t('policy.level'), num: true, cell: (i) => t('policy.levelN', { n: i.level }) },
        { label: t('region.enabled'), cell: (i) => (i.enabled ? badge(t('region.enabledYes'), 'ok') : badge(t('region.enabledNo'))) },
      ],
    }));
  };
  get(`${node}/reference/institutions`).then((rows) => {
    if (!ctx.alive()) return;
    all = rows;
    show();
  }).catch((exc) => { clear(body, h('p', { class: 'empty' }, exc.code || String(exc))); ctx.fail(exc); });
  filter.addEventListener('input', debounce(show, 150));
  return h('section', { class: 'card' },
    h('header', { class: 'card-head' }, h('h2', null, t('region.institutionsTitle')), meta),
    h('div', { class: 'card-body' }, filter),
    body);
}

export async function renderRegion(root, ctx) {
  const code = /^\d{6}$/.test(ctx.args[0] || '') ? ctx.args[0] : (localStorage.getItem(LAST_REGION) || '310000');
  localStorage.setItem(LAST_REGION, code);
  const node = `/nodes/${code}/v1`;
  const select = h('select', {
    class: 'input', testid: 'region-select',
    onchange: () => { location.hash = `#/region/${select.value}`; },
  }, regionOptions({ selected: code }));
  select.value = code;
  root.append(
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, t('region.title', { name: placeName(code, { short: false }) })),
        h('p', { class: 'lead' }, t('region.lead'))),
      h('div', { class: 'toolbar' }, field(t('region.pick'), select))),
    h('div', { class: 'stack' },
      settlementsSection(node, ctx),
      policiesSection(node, ctx),
      h('div', { class: 'grid grid-2' }, catalogueSection(node, ctx), institutionsSection(node, ctx))));
}

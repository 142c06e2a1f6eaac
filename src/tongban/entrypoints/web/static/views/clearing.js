// 清算 Clearing: a month's obligations, net positions, reserves and alerts, open exceptions and
// the signed statements (the hub's /v1/clearing API, operator key).

import { fetchBlob, operatorGet, operatorKey } from '../api.js';
import { AXIS, base, esc, makeChart } from '../charts.js';
import { shanghaiTime } from '../dates.js';
import { badge, clear, field, h, loading, saveBlob, table } from '../dom.js';
import { t } from '../i18n.js';
import { count, yuan, yuanAxis } from '../money.js';
import { placeCell, placeName } from '../places.js';

const FORMATS = ['json', 'csv', 'html'];
const STATUS_TONE = { CONFIRMED: 'ok', CLOSED: 'ok', ISSUED: 'info', DISPUTED: 'bad', OPEN: 'warn' };

/** What a home owes a visit region: the contract's `amount`, else fund + account. */
function amountOf(o) {
  return o.amount ?? (o.hifp_pay ?? 0) + (o.acct_pay ?? 0);
}

function statusBadge(status) {
  return status ? badge(t(`status.${status}`, null, status), STATUS_TONE[status]) : '—';
}

// Colour follows the square root of the amount: one busy pair (Jinhua → Shanghai) would
// otherwise leave every other cell the palest blue. Only the colour: labels show the amount.
function shade(fen) {
  return Math.sign(fen) * Math.sqrt(Math.abs(fen));
}

function drawHeatmap(el, all) {
  // A pair whose visits were all paid in cash owes nothing: no cell (an empty square says so).
  const obligations = all.filter((o) => amountOf(o) !== 0);
  const homes = [...new Set(obligations.map((o) => o.home_region))].sort();
  const visits = [...new Set(obligations.map((o) => o.visit_region))].sort();
  const values = obligations.map(amountOf);
  const max = Math.max(1, ...values);
  const min = Math.min(0, ...values);
  const rowHeight = 28;
  el.style.height = `${Math.max(260, homes.length * rowHeight + 150)}px`;
  // Labels only while cells are wide enough to hold them (not on a phone).
  const cell = () => (chart.getWidth() - 140) / Math.max(1, visits.length);
  const labels = () => cell() >= 64;
  const rotate = () => (cell() < 34 ? 90 : visits.length > 10 ? 40 : 0);
  const chart = makeChart(el, () => chart.setOption({
    series: [{ label: { show: labels() } }], xAxis: { axisLabel: { rotate: rotate() } },
  }));
  const option = () => base({
    grid: { left: 8, right: 16, top: 12, bottom: 48, containLabel: true },
    tooltip: {
      ...base().tooltip,
      formatter: (p) => {
        const o = p.data.o;
        return `<b>${esc(placeName(o.home_region))} → ${esc(placeName(o.visit_region))}</b><br>`
          + `${esc(t('clearing.owes'))}: <b>${yuan(amountOf(o))}</b><br>`
          + (o.hifp_pay !== undefined ? `${esc(t('col.fund'))} ${yuan(o.hifp_pay)} · ${esc(t('col.account'))} ${yuan(o.acct_pay)}<br>` : '')
          + `${esc(t('clearing.events'))}: ${count(o.events ?? 0)}`;
      },
    },
    xAxis: {
      type: 'category', data: visits.map((c) => placeName(c)), ...AXIS,
      axisLabel: { ...AXIS.axisLabel, interval: 0, rotate: rotate() },
      splitLine: { show: true, lineStyle: { color: '#f0f3f6' } },
    },
    yAxis: {
      type: 'category', data: homes.map((c) => placeName(c)), ...AXIS,
      axisLabel: { ...AXIS.axisLabel, interval: 0 }, inverse: true,
      splitLine: { show: true, lineStyle: { color: '#f0f3f6' } },
    },
    visualMap: {
      dimension: 3, min: shade(min), max: shade(max), calculable: false, orient: 'horizontal',
      left: 'center', bottom: 0, itemWidth: 12, itemHeight: 200,
      text: [yuanAxis(max), yuanAxis(min)], textStyle: { fontSize: 11, color: '#5b6b7b' },
      inRange: { color: ['#e3eef9', '#9cc0e6', '#3f7fc1', '#17406b'] },
    },
    series: [{
      type: 'heatmap',
      data: obligations.map((o) => ({
        value: [visits.indexOf(o.visit_region), homes.indexOf(o.home_region), amountOf(o), shade(amountOf(o))],
        o,
        label: { color: shade(amountOf(o)) > 0.55 * shade(max) ? '#fff' : '#0f2033' },
      })),
      label: {
        show: labels(), fontSize: 10,
        formatter: (p) => yuan(p.data.value[2]),
      },
      itemStyle: { borderColor: '#fff', borderWidth: 2, borderRadius: 3 },
      emphasis: { itemStyle: { borderColor: '#1f2d3a', borderWidth: 1 } },
    }],
  });
  chart.setOption(option());
}

function downloads(period, code) {
  return h('span', { class: 'downloads' }, FORMATS.map((format) => h('a', {
    href: '#', class: 'dl', testid: 'statement-download', 'data-region': code, 'data-format': format,
    title: t('clearing.download', { format: format.toUpperCase() }),
    onclick: async (event) => {
      event.preventDefault();
      const link = event.currentTarget;
      link.classList.add('busy');
      try {
        const key = await operatorKey();
        const blob = await fetchBlob(`/hub/v1/clearing/statements/${period}/${code}?format=${format}`, key);
        saveBlob(blob, `statement-${period}-${code}.${format}`);
      } catch (exc) {
        link.dispatchEvent(new CustomEvent('tb-error', { bubbles: true, detail: exc }));
      } finally {
        link.classList.remove('busy');
      }
    },
  }, format.toUpperCase())));
}

function positionsTable(period, data) {
  const codes = [...new Set([...Object.keys(data.positions || {}), ...Object.keys(data.statements || {})])];
  const rows = codes.map((code) => ({ code, position: data.positions?.[code] ?? 0 }))
    .sort((a, b) => b.position - a.position || a.code.localeCompare(b.code));
  return table({
    testid: 'clearing-positions',
    rows,
    row: (r) => ({ 'data-region': r.code }),
    empty: t('clearing.noPositions'),
    columns: [
      { label: t('col.region'), cell: (r) => placeCell(r.code) },
      {
        label: t('clearing.position'), num: true, col: 'position',
        cell: (r) => h('span', { class: r.position > 0 ? 'pos' : r.position < 0 ? 'neg' : 'muted' }, yuan(r.position)),
      },
      {
        label: t('clearing.direction'), col: 'direction',
        cell: (r) => (r.position > 0 ? badge(t('clearing.receivable'), 'ok')
          : r.position < 0 ? badge(t('clearing.payable'), 'bad') : badge(t('clearing.even'))),
      },
      { label: t('clearing.statement'), col: 'statement', cell: (r) => statusBadge(data.statements?.[r.code]) },
      Object.keys(data.disputes || {}).length
        ? { label: t('clearing.dispute'), className: 'wrap', cell: (r) => data.disputes[r.code] || '' } : null,
      { label: t('clearing.downloads'), cell: (r) => (data.statements?.[r.code] ? downloads(period, r.code) : '—') },
    ].filter(Boolean),
  });
}

function alertOf(data, code) {
  return (data.alerts || []).find((a) => a.region === code);
}

function monthsLeft(alert) {
  const m = alert.months_left ?? alert.months_covered;
  return m === null || m === undefined ? '—' : String(m);
}

function reservesTable(data) {
  const rows = Object.entries(data.reserves || {}).map(([code, balance]) => ({ code, balance }))
    .sort((a, b) => Number(Boolean(alertOf(data, b.code))) - Number(Boolean(alertOf(data, a.code)))
      || a.balance - b.balance);
  return table({
    testid: 'clearing-reserves',
    rows,
    row: (r) => ({ 'data-region': r.code, class: alertOf(data, r.code) ? 'row-alert' : null }),
    empty: t('clearing.noReserves'),
    columns: [
      { label: t('col.region'), cell: (r) => placeCell(r.code) },
      { label: t('clearing.reserve'), num: true, cell: (r) => yuan(r.balance) },
      {
        label: t('clearing.alert'),
        cell: (r) => {
          const a = alertOf(data, r.code);
          return a ? badge(t('clearing.monthsLeft', { n: monthsLeft(a) }), 'bad') : badge(t('clearing.ok'), 'ok');
        },
      },
    ],
  });
}

function alertsPanel(data) {
  const alerts = data.alerts || [];
  if (!alerts.length) {
    return h('div', { class: 'notice notice-ok', testid: 'clearing-alerts' }, t('clearing.noAlerts'));
  }
  return h('div', { class: 'notice notice-bad', testid: 'clearing-alerts' },
    h('strong', null, t('clearing.alertsTitle', { n: alerts.length })),
    h('ul', null, alerts.map((a) => h('li', { 'data-region': a.region },
      h('b', null, placeName(a.region)), ' ',
      t('clearing.alertLine', {
        months: monthsLeft(a),
        threshold: a.threshold_months ?? '—',
        balance: yuan(a.balance ?? data.reserves?.[a.region]),
        average: a.monthly_average === undefined ? '—' : yuan(a.monthly_average),
      }),
      a.level ? ` (${a.level})` : ''))));
}

function exceptionsTable(list) {
  return table({
    testid: 'clearing-exceptions',
    rows: list,
    row: (e) => ({ 'data-settlement-id': e.settlement_id }),
    empty: t('clearing.noExceptions'),
    columns: [
      { label: t('col.visitRegion'), cell: (e) => placeCell(e.visit_region) },
      { label: t('col.settlementId'), cell: (e) => h('code', null, e.settlement_id) },
      { label: t('clearing.event'), cell: (e) => e.event },
      { label: t('clearing.kind'), cell: (e) => h('code', null, e.kind) },
      { label: t('col.status'), cell: (e) => statusBadge(e.status) },
      { label: t('clearing.foundIn'), cell: (e) => e.found_in ?? '—' },
      { label: t('clearing.detail'), className: 'wrap', cell: (e) => (typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail ?? '')) },
    ],
  });
}

async function renderPeriod(body, period, ctx) {
  clear(body, loading(t('app.loading')));
  const [data, open] = await Promise.all([
    operatorGet(`/hub/v1/clearing/periods/${encodeURIComponent(period)}`),
    operatorGet('/hub/v1/clearing/exceptions?status=OPEN'),
  ]);
  if (!ctx.alive()) return;
  const heatEl = h('div', { class: 'chart chart-heat', testid: 'clearing-heatmap' });
  const obligations = data.obligations || [];
  const total = obligations.reduce((sum, o) => sum + amountOf(o), 0);
  clear(body,
    h('div', { class: 'kpis' },
      h('div', { class: 'kpi' }, h('div', { class: 'kpi-label' }, t('clearing.status')), h('div', { class: 'kpi-value small' }, statusBadge(data.status))),
      h('div', { class: 'kpi' }, h('div', { class: 'kpi-label' }, t('clearing.matched')), h('div', { class: 'kpi-value' }, count(data.matched))),
      h('div', { class: 'kpi' }, h('div', { class: 'kpi-label' }, t('clearing.gross')), h('div', { class: 'kpi-value' }, yuan(total))),
      h('div', { class: `kpi ${data.exceptions_open ? 'kpi-warn' : ''}` }, h('div', { class: 'kpi-label' }, t('clearing.openExceptions')), h('div', { class: 'kpi-value' }, count(data.exceptions_open ?? open.length))),
      h('div', { class: `kpi ${(data.alerts || []).length ? 'kpi-warn' : ''}` }, h('div', { class: 'kpi-label' }, t('clearing.alerts')), h('div', { class: 'kpi-value' }, count((data.alerts || []).length)))),
    h('p', { class: 'window' }, data.window_from
      ? t('clearing.window', { from: shanghaiTime(data.window_from), to: shanghaiTime(data.window_to) })
      : t('clearing.windowTo', { to: shanghaiTime(data.window_to) })),
    h('section', { class: 'card' },
      h('header', { class: 'card-head' }, h('h2', null, t('clearing.heatTitle')),
        h('span', { class: 'card-meta' }, t('clearing.heatMeta', { n: count(obligations.length) }))),
      h('p', { class: 'card-note pad' }, t('clearing.heatNote')),
      h('div', { class: 'card-body' }, obligations.length ? heatEl
        : h('div', { class: 'empty', testid: 'clearing-heatmap' }, t('clearing.noObligations')))),
    h('div', { class: 'grid grid-2' },
      h('section', { class: 'card' },
        h('header', { class: 'card-head' }, h('h2', null, t('clearing.positionsTitle')),
          h('span', { class: 'card-meta' }, t('clearing.positionsMeta'))),
        h('div', { class: 'card-body flush' }, positionsTable(period, data))),
      h('section', { class: 'card' },
        h('header', { class: 'card-head' }, h('h2', null, t('clearing.reservesTitle'))),
        h('div', { class: 'card-body' }, alertsPanel(data)),
        h('div', { class: 'card-body flush' }, reservesTable(data)))),
    h('section', { class: 'card' },
      h('header', { class: 'card-head' }, h('h2', null, t('clearing.exceptionsTitle')),
        h('span', { class: 'card-meta' }, count(open.length))),
      h('div', { class: 'card-body flush' }, exceptionsTable(open))),
  );
  if (obligations.length) drawHeatmap(heatEl, obligations);
}

export async function renderClearing(root, ctx) {
  const select = h('select', { class: 'input', testid: 'clearing-period' });
  const body = h('div', { class: 'stack' }, loading(t('app.loading')));
  root.addEventListener('tb-error', (event) => ctx.fail(event.detail));
  root.append(
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, t('clearing.title')), h('p', { class: 'lead' }, t('clearing.lead'))),
      h('div', { class: 'toolbar' }, field(t('clearing.period'), select))),
    body);
  const periods = await operatorGet('/hub/v1/clearing/periods');
  if (!ctx.alive()) return;
  const sorted = [...periods].sort((a, b) => b.period.localeCompare(a.period));
  if (!sorted.length) {
    select.disabled = true;
    clear(body, h('div', { class: 'card' }, h('div', { class: 'card-body empty' }, t('clearing.noPeriods'))));
    return;
  }
  for (const p of sorted) {
    select.append(h('option', { value: p.period }, `${p.period} · ${t(`status.${p.status}`, null, p.status)}`));
  }
  const wanted = ctx.query.get('period');
  select.value = sorted.some((p) => p.period === wanted) ? wanted : sorted[0].period;
  select.addEventListener('change', () => {
    ctx.clearError();
    history.replaceState(null, '', `#/clearing?period=${select.value}`);
    renderPeriod(body, select.value, ctx).catch(ctx.fail);
  });
  await renderPeriod(body, select.value, ctx);
}

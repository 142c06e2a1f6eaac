// 全网 Network: the whole network's cross-region flows for a period (operator key).

import { demo, operatorGet } from '../api.js';
import { AXIS, base, esc, makeChart } from '../charts.js';
import { addDays, daysBetween, isDay, todayShanghai } from '../dates.js';
import { clear, field, h, loading, table } from '../dom.js';
import { errorText, t } from '../i18n.js';
import { average, count, share, yuan, yuanAxis } from '../money.js';
import { placeCell, placeName } from '../places.js';
import { drawFlowMap } from './flowmap.js';

function kpi(label, value, testid, note, tone) {
  return h('div', { class: `kpi ${tone ? `kpi-${tone}` : ''}`.trim() },
    h('div', { class: 'kpi-label' }, label),
    h('div', { class: 'kpi-value', testid }, value),
    note ? h('div', { class: 'kpi-note' }, note) : null);
}

function drawDays(el, from, to, days) {
  const byDay = new Map(days.map((d) => [d.day, d]));
  // Every day of the period, zero where nothing happened, so gaps show as gaps.
  let axisDays = daysBetween(from, to, 120);
  if (!axisDays.length) axisDays = days.map((d) => d.day);
  const pick = (key) => axisDays.map((d) => byDay.get(d)?.[key] ?? 0);
  const chart = makeChart(el);
  chart.setOption(base({
    grid: { left: 8, right: 8, top: 52, bottom: 8, containLabel: true },
    legend: { top: 0, left: 'center', itemWidth: 12, itemHeight: 8, textStyle: { fontSize: 12 } },
    tooltip: {
      ...base().tooltip,
      trigger: 'axis',
      axisPointer: { type: 'shadow' },
      valueFormatter: null,
      formatter: (items) => `<b>${esc(items[0].axisValue)}</b><br>${items.map((p) => `${p.marker}${esc(p.seriesName)}: <b>${
        p.seriesIndex >= 3 ? yuan(p.value) : count(p.value)}</b>`).join('<br>')}`,
    },
    xAxis: { type: 'category', data: axisDays, ...AXIS, axisLabel: { ...AXIS.axisLabel, formatter: (d) => d.slice(5) } },
    yAxis: [
      { type: 'value', name: t('chart.visits'), minInterval: 1, ...AXIS, nameTextStyle: { color: '#7a8896', align: 'left' } },
      {
        type: 'value', name: t('chart.yuan'), ...AXIS, splitLine: { show: false },
        nameTextStyle: { color: '#7a8896', align: 'right' },
        axisLabel: { ...AXIS.axisLabel, formatter: (v) => yuanAxis(v) },
      },
    ],
    series: [
      { name: t('col.settled'), type: 'bar', stack: 'n', barMaxWidth: 36, data: pick('settled'), itemStyle: { color: '#2563a8' } },
      { name: t('col.cancelled'), type: 'bar', stack: 'n', barMaxWidth: 36, data: pick('cancelled'), itemStyle: { color: '#9db4cc' } },
      { name: t('col.refused'), type: 'bar', stack: 'n', barMaxWidth: 36, data: pick('refused'), itemStyle: { color: '#c8463d' } },
      { name: t('col.medfee'), type: 'line', yAxisIndex: 1, symbolSize: 6, data: pick('medfee'), itemStyle: { color: '#d0892a' } },
      { name: t('col.fund'), type: 'line', yAxisIndex: 1, symbolSize: 6, data: pick('fund'), itemStyle: { color: '#2f9e6e' } },
    ],
  }));
}

function drawCostSplit(el, totals) {
  const parts = [
    { key: 'fund', color: '#2f9e6e' }, { key: 'account', color: '#2563a8' }, { key: 'cash', color: '#d0892a' },
  ];
  const chart = makeChart(el);
  chart.setOption(base({
    tooltip: {
      ...base().tooltip, trigger: 'item',
      formatter: (p) => `${p.marker}${esc(p.name)}: <b>${yuan(p.value)}</b> (${share(p.value, totals.medfee)})`,
    },
    series: [{
      type: 'pie', radius: ['58%', '82%'], center: ['50%', '50%'], avoidLabelOverlap: true,
      label: { show: false }, labelLine: { show: false },
      itemStyle: { borderColor: '#fff', borderWidth: 2 },
      data: parts.map((p) => ({ name: t(`col.${p.key}`), value: totals[p.key], itemStyle: { color: p.color } })),
    }],
  }));
}

function costLegend(totals) {
  return h('ul', { class: 'legend-list' }, ['fund', 'account', 'cash'].map((key) => h('li', null,
    h('span', { class: `dot dot-${key}` }),
    h('span', { class: 'legend-name' }, t(`col.${key}`)),
    h('span', { class: 'legend-value' }, yuan(totals[key])),
    h('span', { class: 'legend-share' }, share(totals[key], totals.medfee)))));
}

function averages(totals) {
  const asked = totals.settled + totals.refused;
  const rows = [
    [t('network.avgMedfee'), yuan(average(totals.medfee, totals.settled))],
    [t('network.avgFund'), yuan(average(totals.fund, totals.settled))],
    [t('network.avgCash'), yuan(average(totals.cash, totals.settled))],
    [t('network.refusalRate'), share(totals.refused, asked)],
    [t('network.cancelRate'), share(totals.cancelled, totals.settled + totals.cancelled)],
  ];
  return h('dl', { class: 'stats' }, rows.map(([label, value]) => [h('dt', null, label), h('dd', null, value)]));
}

function refusalList(refusals) {
  const max = Math.max(1, ...refusals.map((r) => r.count));
  if (!refusals.length) {
    return h('div', { class: 'empty', testid: 'network-refusals' }, t('network.noRefusals'));
  }
  return h('ul', { class: 'bars', testid: 'network-refusals' }, [...refusals]
    .sort((a, b) => b.count - a.count)
    .map((r) => h('li', { 'data-code': r.code },
      h('div', { class: 'bar-label' }, h('code', null, r.code), h('span', null, errorText(r.code))),
      h('div', { class: 'bar-track' },
        h('div', { class: 'bar-fill', style: { width: `${Math.max(2, Math.round((r.count * 100) / max))}%` } })),
      h('div', { class: 'bar-value' }, count(r.count)))));
}

function topFlows(routes) {
  const top = [...routes].filter((r) => r.settled > 0)
    .sort((a, b) => b.settled - a.settled || b.medfee - a.medfee).slice(0, 8);
  const max = Math.max(1, ...top.map((r) => r.settled));
  return h('div', { class: 'top-flows' },
    h('h3', null, t('network.topFlows')),
    top.length ? h('ol', null, top.map((r) => h('li', null,
      h('div', { class: 'tf-route' }, placeName(r.home_region), h('span', { class: 'arrow' }, ' → '), placeName(r.visit_region)),
      h('div', { class: 'tf-num' }, t('network.visitsN', { n: count(r.settled) })),
      h('div', { class: 'bar-track' }, h('div', { class: 'bar-fill bar-blue', style: { width: `${Math.max(3, Math.round((r.settled * 100) / max))}%` } })),
      h('div', { class: 'tf-money' }, `${yuan(r.medfee)} · ${t('col.fund')} ${yuan(r.fund)}`))))
      : h('p', { class: 'muted' }, t('network.noRoutes')));
}

function routesTable(routes) {
  const sorted = [...routes].sort((a, b) => b.settled - a.settled
    || b.medfee - a.medfee || `${a.home_region}${a.visit_region}`.localeCompare(`${b.home_region}${b.visit_region}`));
  return table({
    testid: 'network-routes',
    rows: sorted,
    row: (r) => ({ 'data-route': `${r.home_region}-${r.visit_region}` }),
    empty: t('network.noRoutes'),
    columns: [
      { label: t('col.route'), cell: (r) => h('span', { class: 'route' }, placeCell(r.home_region), h('span', { class: 'arrow' }, '→'), placeCell(r.visit_region)) },
      { label: t('col.settled'), num: true, col: 'settled', cell: (r) => count(r.settled) },
      { label: t('col.cancelled'), num: true, col: 'cancelled', cell: (r) => count(r.cancelled) },
      { label: t('col.refused'), num: true, col: 'refused', cell: (r) => (r.refused ? h('span', { class: 'neg' }, count(r.refused)) : '0') },
      { label: t('col.medfee'), num: true, col: 'medfee', cell: (r) => yuan(r.medfee) },
      { label: t('col.fund'), num: true, col: 'fund', cell: (r) => yuan(r.fund) },
      { label: t('col.account'), num: true, col: 'account', cell: (r) => yuan(r.account) },
      { label: t('col.cash'), num: true, col: 'cash', cell: (r) => yuan(r.cash) },
      { label: t('col.fundShare'), num: true, col: 'share', cell: (r) => share(r.fund, r.medfee) },
    ],
  });
}

export async function renderNetwork(root, ctx) {
  const sample = await demo().catch(() => null);
  const fallback = sample?.date || todayShanghai();
  const from = isDay(ctx.query.get('from')) ? ctx.query.get('from') : fallback;
  const to = isDay(ctx.query.get('to')) ? ctx.query.get('to') : (from > fallback ? from : fallback);

  const fromInput = h('input', { type: 'date', class: 'input', testid: 'network-from', value: from });
  const toInput = h('input', { type: 'date', class: 'input', testid: 'network-to', value: to });
  const apply = (event) => {
    event.preventDefault();
    const q = new URLSearchParams({ from: fromInput.value, to: toInput.value });
    const target = `#/network?${q}`;
    if (location.hash === target) ctx.rerender();
    else location.hash = target;
  };
  const quick = (days) => h('button', {
    type: 'button', class: 'chip',
    onclick: () => { toInput.value = fallback; fromInput.value = addDays(fallback, 1 - days); toInput.form.requestSubmit(); },
  }, t('network.lastDays', { n: days }));

  const body = h('div', { class: 'stack' }, loading(t('app.loading')));
  root.append(
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, t('network.title')), h('p', { class: 'lead' }, t('network.lead'))),
      h('form', { class: 'toolbar', onsubmit: apply },
        field(t('network.from'), fromInput), field(t('network.to'), toInput),
        h('button', { class: 'btn btn-primary', type: 'submit', testid: 'network-apply' }, t('network.apply')),
        h('div', { class: 'chips' }, quick(1), quick(7), quick(30)))),
    body,
  );

  const data = await operatorGet(`/console/api/network?from_date=${from}&to_date=${to}`);
  if (!ctx.alive()) return;
  const { totals } = data;

  const mapEl = h('div', { class: 'chart chart-map', testid: 'network-map' });
  const daysEl = h('div', { class: 'chart chart-days', testid: 'network-days' });
  const pieEl = h('div', { class: 'chart chart-pie' });
  const mapNote = h('p', { class: 'card-note' });
  clear(body,
    h('div', { class: 'kpis' },
      kpi(t('kpi.settled'), String(totals.settled), 'network-total-settled', t('kpi.routes', { n: count(data.routes.length) })),
      kpi(t('kpi.medfee'), yuan(totals.medfee), null, `${t('col.cash')} ${yuan(totals.cash)}`),
      kpi(t('kpi.fund'), yuan(totals.fund), null, `${t('col.account')} ${yuan(totals.account)}`),
      kpi(t('kpi.fundShare'), share(totals.fund, totals.medfee), 'network-fund-share', t('kpi.fundShareNote'), 'accent'),
      kpi(t('kpi.cancelled'), count(totals.cancelled)),
      kpi(t('kpi.refused'), count(totals.refused), null,
        totals.unresolved ? t('kpi.unresolved', { n: count(totals.unresolved) }) : null, totals.refused ? 'warn' : null)),
    h('div', { class: 'grid grid-map' },
      h('section', { class: 'card card-map' },
        h('header', { class: 'card-head' }, h('h2', null, t('network.mapTitle')),
          h('span', { class: 'card-meta' }, from === to ? from : `${from} — ${to}`)),
        h('div', { class: 'card-body map-body' }, h('div', { class: 'map-main' }, mapEl, mapNote), topFlows(data.routes))),
      h('div', { class: 'stack' },
        h('section', { class: 'card' },
          h('header', { class: 'card-head' }, h('h2', null, t('network.shareTitle'))),
          h('div', { class: 'card-body share-body' },
            h('div', { class: 'share-figure' },
              h('div', { class: 'share-big' }, share(totals.fund, totals.medfee)),
              h('div', { class: 'share-sub' }, t('network.shareSub', { fund: yuan(totals.fund), medfee: yuan(totals.medfee) }))),
            h('div', { class: 'share-chart' }, pieEl, costLegend(totals)))),
        h('section', { class: 'card' },
          h('header', { class: 'card-head' }, h('h2', null, t('network.avgTitle'))),
          h('div', { class: 'card-body' }, averages(totals))),
        h('section', { class: 'card' },
          h('header', { class: 'card-head' }, h('h2', null, t('network.refusalsTitle')),
            h('span', { class: 'card-meta' }, count(totals.refused))),
          h('div', { class: 'card-body' }, refusalList(data.refusals))))),
    h('section', { class: 'card' },
      h('header', { class: 'card-head' }, h('h2', null, t('network.daysTitle'))),
      h('div', { class: 'card-body' }, daysEl)),
    h('section', { class: 'card' },
      h('header', { class: 'card-head' }, h('h2', null, t('network.routesTitle')),
        h('span', { class: 'card-meta' }, t('network.routesMeta', { n: count(data.routes.length) }))),
      h('div', { class: 'card-body flush scroll-y' }, routesTable(data.routes))),
  );

  const { byFund } = drawFlowMap(mapEl, data.routes);
  mapNote.textContent = data.routes.length
    ? t(byFund ? 'map.noteFund' : 'map.noteVisits')
    : t('network.noRoutes');
  drawDays(daysEl, from, to, data.days);
  drawCostSplit(pieEl, totals);
}

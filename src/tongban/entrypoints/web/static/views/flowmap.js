// The network schematic: the 41 city seats placed by longitude / latitude on hidden value axes
// (no map tiles, nothing fetched), sized by visits, coloured by province, with one arrow per
// route home -> visit, as wide as the fund's payments on it.

import { base, esc, makeChart } from '../charts.js';
import { count, yuan } from '../money.js';
import {
  allRegions, placeName, PROVINCES, provinceColor, provinceLabel, provinceOf, region,
} from '../places.js';
import { t } from '../i18n.js';

// At ~31°N a degree of longitude is cos(31°) ≈ 0.857 of a degree of latitude on the ground:
// keeping that ratio keeps the delta's shape whatever the screen.
const LON_SCALE = Math.cos((31 * Math.PI) / 180);
const PAD = 0.35; // degrees around the outermost seats

function extent(cities) {
  const lons = cities.map((c) => c.lon);
  const lats = cities.map((c) => c.lat);
  return {
    x0: Math.min(...lons) - PAD, x1: Math.max(...lons) + PAD,
    y0: Math.min(...lats) - PAD, y1: Math.max(...lats) + PAD,
  };
}

/** A grid of the right aspect, centred in the chart (top: room for the legend). */
function fitGrid(width, height, ext) {
  const top = 40;
  const bottom = 12;
  const side = 12;
  const labels = 30; // names sit right of their dots: room for the easternmost (舟山)
  const dataW = (ext.x1 - ext.x0) * LON_SCALE;
  const dataH = ext.y1 - ext.y0;
  const scale = Math.max(1, Math.min((width - 2 * side - labels) / dataW, (height - top - bottom) / dataH));
  const w = dataW * scale;
  const hgt = dataH * scale;
  return {
    left: Math.max(side, (width - w - labels) / 2),
    top: top + Math.max(0, (height - top - bottom - hgt) / 2),
    width: w,
    height: hgt,
  };
}

/** Sort key for "how much": BigInt-safe for fen totals, Number for sizes only. */
function weight(value, max, lo, hi) {
  if (!max) return lo;
  return lo + (hi - lo) * Math.sqrt(Math.max(0, value) / max);
}

export function drawFlowMap(el, routes) {
  const cities = allRegions().map((r) => ({
    code: r.code, lon: Number(r.lon), lat: Number(r.lat), province: r.province,
  }));
  const ext = extent(cities);
  const stats = new Map(cities.map((c) => [c.code, { in: 0, out: 0, medfeeIn: 0, fundIn: 0 }]));
  for (const r of routes) {
    const home = stats.get(r.home_region);
    const visit = stats.get(r.visit_region);
    if (home) home.out += r.settled;
    if (visit) {
      visit.in += r.settled;
      visit.medfeeIn += r.medfee;
      visit.fundIn += r.fund;
    }
  }
  const maxVisits = Math.max(0, ...[...stats.values()].map((s) => s.in + s.out));
  const maxFund = Math.max(0, ...routes.map((r) => r.fund));
  const maxSettled = Math.max(0, ...routes.map((r) => r.settled));
  // With no fund payment at all in the period, widths follow visits rather than all be equal.
  const byFund = maxFund > 0;

  const cityTip = (code) => {
    const s = stats.get(code);
    return `<b>${esc(placeName(code, { short: false }))}</b> <span style="color:#8795a3">${code}</span><br>`
      + `${esc(t('map.visitsIn'))}: <b>${count(s.in)}</b><br>`
      + `${esc(t('map.visitsOut'))}: <b>${count(s.out)}</b><br>`
      + `${esc(t('map.medfeeIn'))}: <b>${yuan(s.medfeeIn)}</b><br>`
      + `${esc(t('map.fundIn'))}: <b>${yuan(s.fundIn)}</b>`;
  };
  const routeTip = (r) => `<b>${esc(placeName(r.home_region))} → ${esc(placeName(r.visit_region))}</b><br>`
    + `${esc(t('col.settled'))}: <b>${count(r.settled)}</b>`
    + (r.cancelled ? ` · ${esc(t('col.cancelled'))} ${count(r.cancelled)}` : '')
    + (r.refused ? ` · ${esc(t('col.refused'))} ${count(r.refused)}` : '')
    + `<br>${esc(t('col.medfee'))}: <b>${yuan(r.medfee)}</b><br>${esc(t('col.fund'))}: <b>${yuan(r.fund)}</b>`;

  const scatter = Object.keys(PROVINCES).map((province) => ({
    name: provinceLabel(province),
    type: 'scatter',
    z: 3,
    itemStyle: { color: provinceColor(province) }, // the legend's colour
    data: cities.filter((c) => c.province === province).map((c) => {
      const s = stats.get(c.code);
      const busy = s.in + s.out > 0;
      return {
        name: placeName(c.code),
        code: c.code,
        value: [c.lon, c.lat],
        symbolSize: busy ? weight(s.in + s.out, maxVisits, 9, 34) : 6,
        itemStyle: {
          color: provinceColor(province),
          opacity: busy ? 0.92 : 0.45,
          borderColor: '#fff',
          borderWidth: busy ? 1.5 : 1,
        },
        label: { fontWeight: busy ? 600 : 400, color: busy ? '#1f2d3a' : '#7a8896' },
      };
    }),
    label: {
      show: true, position: 'right', distance: 4, fontSize: 11,
      formatter: (p) => p.data.name,
    },
    labelLayout: { hideOverlap: true },
    emphasis: { scale: 1.15, label: { fontWeight: 700 } },
    tooltip: { formatter: (p) => cityTip(p.data.code) },
  }));

  const lines = {
    name: t('map.flows'),
    type: 'lines',
    coordinateSystem: 'cartesian2d',
    z: 2,
    symbol: ['none', 'arrow'],
    symbolSize: 7,
    effect: { show: true, period: 5, trailLength: 0.25, symbol: 'circle', symbolSize: 3, color: '#fff' },
    lineStyle: { curveness: 0.22, opacity: 0.55 },
    emphasis: { lineStyle: { opacity: 0.95 } },
    data: routes
      .filter((r) => region(r.home_region) && region(r.visit_region) && r.settled + r.refused + r.cancelled > 0)
      .sort((a, b) => a.settled - b.settled) // the busiest drawn last, on top
      .map((r) => {
        const home = region(r.home_region);
        const visit = region(r.visit_region);
        return {
          route: r,
          coords: [[Number(home.lon), Number(home.lat)], [Number(visit.lon), Number(visit.lat)]],
          lineStyle: {
            width: byFund ? weight(r.fund, maxFund, 1, 9) : weight(r.settled, maxSettled, 1, 7),
            color: provinceColor(provinceOf(r.home_region)),
          },
        };
      }),
    tooltip: { formatter: (p) => routeTip(p.data.route) },
  };

  const axis = (min, max) => ({
    type: 'value', min, max, show: false, scale: true, splitLine: { show: false },
  });
  const chart = makeChart(el, (c) => c.setOption({ grid: fitGrid(c.getWidth(), c.getHeight(), ext) }));
  chart.setOption(base({
    grid: fitGrid(chart.getWidth(), chart.getHeight(), ext),
    xAxis: axis(ext.x0, ext.x1),
    yAxis: axis(ext.y0, ext.y1),
    legend: {
      top: 4, left: 'center', itemWidth: 10, itemHeight: 10, icon: 'circle',
      textStyle: { fontSize: 12, color: '#51606e' },
      data: Object.keys(PROVINCES).map(provinceLabel),
    },
    tooltip: { ...base().tooltip, trigger: 'item' },
    series: [lines, ...scatter],
  }));
  return { chart, byFund };
}

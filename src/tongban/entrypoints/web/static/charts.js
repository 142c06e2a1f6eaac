// ECharts (vendor/echarts.min.js, a plain script: window.echarts) with the page's look, and
// one resize listener for every live chart; charts of a page that was left are disposed.

import { debounce } from './dom.js';

const live = new Map(); // chart -> optional hook run after chart.resize()

export const FONT = '-apple-system, BlinkMacSystemFont, "Segoe UI", "PingFang SC", '
  + '"Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", "Noto Sans SC", sans-serif';

export const PALETTE = ['#2563a8', '#2f9e6e', '#d0892a', '#c2453d', '#7a5cc4', '#3b9bb8',
  '#8a9a2b', '#b0558f'];

export function makeChart(el, onResize) {
  const chart = window.echarts.init(el, null, { renderer: 'canvas' });
  live.set(chart, onResize || null);
  return chart;
}

export function disposeCharts() {
  for (const chart of live.keys()) chart.dispose();
  live.clear();
}

function resizeAll() {
  for (const [chart, hook] of live) {
    if (chart.isDisposed()) {
      live.delete(chart);
      continue;
    }
    chart.resize();
    if (hook) hook(chart);
  }
}

window.addEventListener('resize', debounce(resizeAll, 120));

/** Options every chart shares: fonts, colours, a calm tooltip. */
export function base(extra) {
  return {
    color: PALETTE,
    textStyle: { fontFamily: FONT, color: '#33414f' },
    // No entry animation: a screenshot (or a glance) right after loading shows the real chart.
    animation: false,
    tooltip: {
      backgroundColor: 'rgba(255,255,255,0.97)',
      borderColor: '#d5dde6',
      textStyle: { color: '#1f2d3a', fontSize: 12, fontFamily: FONT },
      extraCssText: 'box-shadow: 0 4px 14px rgba(20,40,60,.12); border-radius: 6px;',
    },
    ...extra,
  };
}

export const AXIS = {
  axisLine: { lineStyle: { color: '#c9d3dd' } },
  axisTick: { show: false },
  axisLabel: { color: '#5b6b7b', fontSize: 11 },
  splitLine: { lineStyle: { color: '#edf1f5' } },
};

/** Escapes text put into a tooltip's HTML. */
export function esc(text) {
  return String(text ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

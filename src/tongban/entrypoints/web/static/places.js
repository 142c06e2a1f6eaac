// The 41 regions (from /console/api/regions) and the three provinces a filing may name, in the
// page's language. Loaded once before any page renders, so naming is synchronous.

import { regions } from './api.js';
import { h } from './dom.js';
import { getLang, t } from './i18n.js';

export const PROVINCES = {
  Shanghai: { code: '310000', zh: '上海', en: 'Shanghai', color: '#c8463d' },
  Jiangsu: { code: '320000', zh: '江苏', en: 'Jiangsu', color: '#2563a8' },
  Zhejiang: { code: '330000', zh: '浙江', en: 'Zhejiang', color: '#2f9e6e' },
  Anhui: { code: '340000', zh: '安徽', en: 'Anhui', color: '#d0892a' },
};
const PROVINCE_NAMES = {
  320000: { zh: '江苏省', en: 'Jiangsu province' },
  330000: { zh: '浙江省', en: 'Zhejiang province' },
  340000: { zh: '安徽省', en: 'Anhui province' },
};

let list = [];
let byCode = new Map();

export async function loadPlaces() {
  list = await regions();
  byCode = new Map(list.map((r) => [r.code, r]));
  return list;
}

export function allRegions() {
  return list;
}

export function region(code) {
  return byCode.get(code);
}

/** "上海" / "Shanghai" (short: without 市), a province name for 320000, or the code itself. */
export function placeName(code, { short = true } = {}) {
  const r = byCode.get(code);
  if (r) {
    if (getLang() === 'en') return r.name_en;
    return short ? r.name_zh.replace(/市$/, '') : r.name_zh;
  }
  const p = PROVINCE_NAMES[code];
  if (p) return p[getLang()];
  return code ?? '—';
}

/** "上海 310000" as a cell: name, code in small type. */
export function placeCell(code) {
  return h('span', { class: 'place' }, placeName(code), h('small', { class: 'code' }, code));
}

export function provinceOf(code) {
  return byCode.get(code)?.province;
}

export function provinceColor(province) {
  return PROVINCES[province]?.color || '#6b7b8c';
}

export function provinceLabel(province) {
  return PROVINCES[province]?.[getLang()] || province;
}

/** <option>s of the 41 regions grouped by province; `withProvinces` adds whole provinces. */
export function regionOptions({ withProvinces = false, selected } = {}) {
  const groups = [];
  for (const [province, info] of Object.entries(PROVINCES)) {
    const options = list.filter((r) => r.province === province)
      .map((r) => h('option', { value: r.code, selected: r.code === selected },
        `${placeName(r.code, { short: false })} · ${r.code}`));
    if (withProvinces && info.code !== '310000') {
      options.unshift(h('option', { value: info.code, selected: info.code === selected },
        `${placeName(info.code)} (${t('place.wholeProvince')}) · ${info.code}`));
    }
    groups.push(h('optgroup', { label: provinceLabel(province) }, options));
  }
  return groups;
}

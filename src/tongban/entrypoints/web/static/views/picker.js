// The desk's item code field: type a name or a code, pick from the visit region's catalogue
// (mouse or arrow keys + Enter); the price starts at the item's cap, or a typical value.

import { get } from '../api.js';
import { clear, debounce, h } from '../dom.js';
import { t } from '../i18n.js';
import { ratioPercent, yuan, yuanPlain } from '../money.js';
import { classBadge } from './split.js';

const TYPICAL_PRICE = 5000; // fen: a starting price for items with no cap; the clerk edits it

export function codePicker(regionNode, priceInput, onPick, onError) {
  const input = h('input', {
    class: 'input mono', testid: 'desk-line-code', autocomplete: 'off', placeholder: t('desk.codePlaceholder'),
    role: 'combobox', 'aria-autocomplete': 'list',
  });
  const list = h('ul', { class: 'suggest', hidden: true, role: 'listbox' });
  let items = [];
  let active = -1;
  let asked = 0;
  const pick = (item) => {
    input.value = item.code;
    priceInput.value = yuanPlain(item.price_cap ?? TYPICAL_PRICE);
    list.hidden = true;
    onPick(item);
  };
  const highlight = (index) => {
    active = index;
    [...list.children].forEach((li, i) => li.classList.toggle('active', i === index));
    list.children[index]?.scrollIntoView({ block: 'nearest' });
  };
  const search = debounce(async () => {
    const q = input.value.trim();
    if (!q) { list.hidden = true; return; }
    const mine = ++asked;
    try {
      const page = await get(`${regionNode()}/reference/catalogue?${new URLSearchParams({ q, limit: '12' })}`);
      if (mine !== asked) return;
      items = page.items;
      active = -1;
      clear(list, items.length ? items.map((item) => h('li', {
        role: 'option', 'data-code': item.code,
        onmousedown: (event) => {
          event.preventDefault(); // keep focus: the blur below would hide the list first
          pick(item);
        },
      },
      classBadge(item.class),
      h('span', { class: 'suggest-name' }, item.name, h('small', { class: 'code' }, item.code)),
      h('span', { class: 'suggest-cap' },
        item.class === 'B' ? `${t('col.selfpayRatio')} ${ratioPercent(item.selfpay_ratio)} · ` : '',
        item.price_cap === null ? t('app.noCap') : `${t('col.priceCap')} ${yuan(item.price_cap)}`)))
        : h('li', { class: 'muted' }, t('region.noItems')));
      list.hidden = document.activeElement !== input;
    } catch (exc) {
      onError(exc);
    }
  }, 200);
  input.addEventListener('input', () => { onPick(null); search(); });
  input.addEventListener('focus', () => { if (items.length && input.value.trim()) list.hidden = false; });
  input.addEventListener('blur', () => setTimeout(() => { list.hidden = true; }, 120));
  input.addEventListener('keydown', (event) => {
    if (list.hidden || !items.length) return;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      const step = event.key === 'ArrowDown' ? 1 : -1;
      highlight((active + step + items.length) % items.length);
    } else if (event.key === 'Enter' && active >= 0) {
      event.preventDefault(); // picks the item; the next Enter adds the line
      pick(items[active]);
    } else if (event.key === 'Escape') {
      list.hidden = true;
    }
  });
  return { input, box: h('div', { class: 'suggest-wrap' }, input, list) };
}

// The console's shell: hash routing, header (language, demo badge, phone menu), the one error
// box every page reports API failures in, and the operator-key form when a key is refused.

import { ApiError, demo, setOperatorKey } from './api.js';
import { disposeCharts } from './charts.js';
import { clear, h } from './dom.js';
import { errorText, getLang, setLang, t } from './i18n.js';
import { loadPlaces } from './places.js';
import { renderClearing } from './views/clearing.js';
import { renderDesk } from './views/desk.js';
import { renderMe } from './views/me.js';
import { renderNetwork } from './views/network.js';
import { renderRegion } from './views/region.js';

const ROUTES = {
  network: renderNetwork,
  clearing: renderClearing,
  region: renderRegion,
  desk: renderDesk,
  me: renderMe,
};

const view = document.getElementById('view');
const errorBox = document.getElementById('error');
const keybar = document.getElementById('keybar');
const nav = document.getElementById('nav');
const menuButton = document.querySelector('.menu-button');
let generation = 0;

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const name = ROUTES[parts[0]] ? parts[0] : 'network';
  return { name, args: parts.slice(1), query: new URLSearchParams(query || '') };
}

// --- errors ------------------------------------------------------------------------------------
function clearError() {
  errorBox.hidden = true;
  errorBox.replaceChildren();
}

function showError(exc) {
  const code = exc instanceof ApiError ? exc.code : 'CLIENT_ERROR';
  const detail = exc instanceof ApiError ? exc.detail : String(exc?.message || exc);
  if (!(exc instanceof ApiError)) console.error(exc); // a bug of the page: keep the stack
  const item = h('div', { class: 'error-item' },
    h('span', { class: 'error-icon', 'aria-hidden': 'true' }, '!'),
    h('div', { class: 'error-text' },
      h('div', null, h('code', { class: 'error-code' }, code), ' ', h('strong', null, errorText(code))),
      detail && detail !== errorText(code)
        ? h('div', { class: 'error-detail' },
          exc?.status ? `HTTP ${exc.status} · ` : '', detail)
        : null),
    h('button', {
      class: 'error-close', type: 'button', 'aria-label': t('app.dismiss'),
      onclick: () => { item.remove(); if (!errorBox.children.length) clearError(); },
    }, '×'));
  // The newest first; three are enough to read.
  errorBox.prepend(item);
  while (errorBox.children.length > 3) errorBox.lastChild.remove();
  errorBox.hidden = false;
  if (exc?.operator) showKeyForm();
  // Said where the eye is: bring the box into view when the page was scrolled away from it.
  if (errorBox.getBoundingClientRect().top < 0) errorBox.scrollIntoView({ block: 'start', behavior: 'smooth' });
}

// --- the operator key form ----------------------------------------------------------------------
function showKeyForm() {
  const input = h('input', {
    testid: 'operator-key', type: 'password', autocomplete: 'off', placeholder: 'tbo_…',
    class: 'input mono',
  });
  const form = h('form', {
    class: 'keyform',
    onsubmit: (event) => {
      event.preventDefault();
      if (!input.value.trim()) return;
      setOperatorKey(input.value.trim());
      keybar.hidden = true;
      route();
    },
  },
  h('div', { class: 'keyform-text' }, h('strong', null, t('key.title')), h('span', null, t('key.hint'))),
  input,
  h('button', { class: 'btn btn-primary', type: 'submit', testid: 'operator-key-submit' }, t('key.use')));
  clear(keybar, form);
  keybar.hidden = false;
}

// --- header ----------------------------------------------------------------------------------
function translateShell() {
  document.documentElement.lang = getLang() === 'en' ? 'en' : 'zh-CN';
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-aria]')) {
    el.setAttribute('aria-label', t(el.dataset.i18nAria));
  }
  document.getElementById('lang-toggle').textContent = getLang() === 'en' ? '中文' : 'English';
  document.getElementById('lang-toggle').setAttribute('aria-label', t('app.langToggle'));
  document.title = `${t('app.title')} · ${t(`nav.${parseHash().name}`)}`;
}

function markNav(name) {
  for (const a of nav.querySelectorAll('a')) {
    a.classList.toggle('active', a.dataset.route === name);
    if (a.dataset.route === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function closeMenu() {
  document.body.classList.remove('menu-open');
  menuButton.setAttribute('aria-expanded', 'false');
}

menuButton.addEventListener('click', () => {
  const open = !document.body.classList.contains('menu-open');
  document.body.classList.toggle('menu-open', open);
  menuButton.setAttribute('aria-expanded', String(open));
});
nav.addEventListener('click', closeMenu);

document.getElementById('lang-toggle').addEventListener('click', () => {
  setLang(getLang() === 'en' ? 'zh' : 'en');
  translateShell();
  route();
});

// --- routing -----------------------------------------------------------------------------------
async function route() {
  const mine = ++generation;
  const { name, args, query } = parseHash();
  disposeCharts();
  clearError();
  keybar.hidden = true;
  markNav(name);
  translateShell();
  const root = h('div', { class: `page page-${name}` });
  clear(view, root);
  const ctx = {
    args,
    query,
    alive: () => mine === generation,
    fail: (exc) => { if (mine === generation) showError(exc); },
    clearError,
    rerender: () => route(),
  };
  try {
    await ROUTES[name](root, ctx);
  } catch (exc) {
    ctx.fail(exc);
    // What was still loading will not come: say so instead of spinning on.
    for (const el of root.querySelectorAll('.loading')) {
      el.replaceWith(h('div', { class: 'empty' }, t('app.failed')));
    }
  }
}

async function start() {
  translateShell();
  try {
    await loadPlaces();
  } catch (exc) {
    showError(exc);
  }
  demo().then((sample) => {
    document.getElementById('demo-badge').hidden = !sample;
  }).catch(() => { /* not a demo: no badge */ });
  window.addEventListener('hashchange', () => route());
  await route();
}

start();

// 个人服务 Resident self-service at the home node: sign in with a one-time code, then filings
// (备案) and settlements elsewhere, each explained. The session token lives in sessionStorage.

import { ApiError, demo, get, post } from '../api.js';
import { badge, clear, field, h, loading, table } from '../dom.js';
import { t } from '../i18n.js';
import { yuan } from '../money.js';
import { placeCell, placeName, regionOptions } from '../places.js';
import { explanationList } from './explain.js';
import { splitSummary, statusTone } from './split.js';

const SESSION = 'tongban.resident';
const KINDS = ['long_term_resident', 'retired_resettled', 'posted_worker', 'referral', 'emergency', 'other'];
const ENDED = new Set(['SESSION_ENDED', 'SESSION_EXPIRED', 'UNAUTHENTICATED']);

function session() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION) || 'null');
  } catch {
    return null;
  }
}

function saveSession(value) {
  if (value) sessionStorage.setItem(SESSION, JSON.stringify(value));
  else sessionStorage.removeItem(SESSION);
}

function signInView(root, ctx, residents) {
  const first = residents[0];
  const home = h('select', { class: 'input', testid: 'me-home' }, regionOptions({ selected: first?.home_region || '330700' }));
  const picker = h('select', { class: 'input', testid: 'me-resident' },
    h('option', { value: '' }, t('desk.pickResident')),
    residents.map((r) => h('option', { value: r.id_number, 'data-home': r.home_region },
      `${r.name} · ${placeName(r.home_region)} · ${r.id_number.slice(0, 6)}…${r.id_number.slice(-4)}`)));
  const idInput = h('input', { class: 'input mono', testid: 'me-id-number', maxlength: '18', autocomplete: 'off', placeholder: t('desk.idPlaceholder') });
  const codeInput = h('input', { class: 'input mono code-input', testid: 'me-code', maxlength: '6', inputmode: 'numeric', autocomplete: 'one-time-code', placeholder: t('me.codePlaceholder') });
  const note = h('div', { class: 'code-note', hidden: true });
  let challenge = null;

  picker.addEventListener('change', () => {
    const option = picker.selectedOptions[0];
    if (!option?.value) return;
    idInput.value = option.value;
    home.value = option.dataset.home;
  });
  const sendBtn = h('button', { type: 'button', class: 'btn', testid: 'me-send-code' }, t('me.sendCode'));
  const signBtn = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'me-sign-in' }, t('me.signIn'));
  sendBtn.addEventListener('click', async () => {
    ctx.clearError();
    sendBtn.disabled = true;
    try {
      challenge = { ...(await post(`/nodes/${home.value}/v1/residents/sign-in`, { id_number: idInput.value.trim() })), home: home.value };
      note.hidden = false;
      clear(note, h('span', null, t('me.codeSent', { expires: challenge.expires_at ? new Date(challenge.expires_at).toLocaleTimeString() : '' })),
        challenge.demo_code ? h('span', { class: 'demo-code' }, t('me.demoCode'), h('b', { class: 'mono' }, challenge.demo_code)) : null);
      if (challenge.demo_code) codeInput.value = challenge.demo_code;
      codeInput.focus();
    } catch (exc) {
      ctx.fail(exc);
    } finally {
      sendBtn.disabled = false;
    }
  });
  const form = h('form', {
    class: 'form-grid signin',
    onsubmit: async (event) => {
      event.preventDefault();
      ctx.clearError();
      if (!challenge) return ctx.fail(new ApiError(0, 'NO_CHALLENGE', t('me.sendFirst')));
      signBtn.disabled = true;
      try {
        const s = await post(`/nodes/${challenge.home}/v1/residents/session`, { challenge_id: challenge.challenge_id, code: codeInput.value.trim() });
        saveSession({ token: s.token, expires_at: s.expires_at, home: challenge.home });
        ctx.rerender();
      } catch (exc) {
        ctx.fail(exc);
      } finally {
        signBtn.disabled = false;
      }
    },
  },
  field(t('me.home'), home), field(t('desk.resident'), picker), field(t('desk.idNumber'), idInput),
  h('div', { class: 'form-actions' }, sendBtn),
  field(t('me.code'), codeInput), note,
  h('div', { class: 'form-actions' }, signBtn));

  root.append(h('div', { class: 'grid grid-signin' },
    h('section', { class: 'card' },
      h('header', { class: 'card-head' }, h('h2', null, t('me.signInTitle'))),
      h('div', { class: 'card-body' }, form)),
    h('section', { class: 'card card-soft' },
      h('header', { class: 'card-head' }, h('h2', null, t('me.whatTitle'))),
      h('div', { class: 'card-body prose' },
        h('ul', null, t('me.whatList').split('\n').map((line) => h('li', null, line))),
        h('p', { class: 'muted' }, t('me.privacy'))))));
}

function filingStatus(f) {
  if (f.revoked_on) return badge(t('me.revokedOn', { day: f.revoked_on }), 'muted');
  return badge(t('me.active'), 'ok');
}

function filingsCard(s, ctx, refresh) {
  const body = h('div', { class: 'card-body flush' }, loading(t('app.loading')));
  get(`/nodes/${s.home}/v1/filings`, s.token).then((filings) => {
    if (!ctx.alive()) return;
    clear(body, table({
      testid: 'me-filings',
      rows: filings,
      row: (f) => ({ 'data-filing-id': f.filing_id, class: f.revoked_on ? 'row-muted' : null }),
      empty: t('me.noFilings'),
      columns: [
        { label: t('me.kind'), cell: (f) => t(`kind.${f.kind}`, null, f.kind) },
        { label: t('me.target'), cell: (f) => placeCell(f.target_region) },
        { label: t('me.start'), cell: (f) => f.start_date },
        { label: t('me.end'), cell: (f) => f.end_date || t('me.untilRevoked') },
        { label: t('col.status'), cell: filingStatus },
        {
          label: '', cell: (f) => (f.revoked_on ? '' : h('button', {
            type: 'button', class: 'btn btn-small btn-danger-ghost', testid: 'me-revoke',
            onclick: async (event) => {
              ctx.clearError();
              event.currentTarget.disabled = true;
              try {
                await post(`/nodes/${s.home}/v1/filings/${encodeURIComponent(f.filing_id)}/revoke`, undefined, s.token);
                refresh();
              } catch (exc) {
                ctx.fail(exc);
              }
            },
          }, t('me.revoke'))),
        },
      ],
    }));
  }).catch((exc) => { clear(body, h('p', { class: 'empty' }, exc.code)); ctx.fail(exc); });

  const kind = h('select', { class: 'input', testid: 'me-file-kind' }, KINDS.map((k) => h('option', { value: k }, t(`kind.${k}`))));
  const defaultTarget = s.home === '310000' ? '320100' : '310000';
  const target = h('select', { class: 'input', testid: 'me-file-target' }, regionOptions({ withProvinces: true, selected: defaultTarget }));
  target.value = defaultTarget;
  const start = h('input', { class: 'input', type: 'date', testid: 'me-file-start' });
  const commitment = h('input', { type: 'checkbox', testid: 'me-file-commitment' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'me-file-submit' }, t('me.fileSubmit'));
  const form = h('form', {
    class: 'form-grid',
    onsubmit: async (event) => {
      event.preventDefault();
      ctx.clearError();
      submit.disabled = true;
      const body = { kind: kind.value, target_region: target.value, commitment: commitment.checked };
      if (start.value) body.start_date = start.value;
      try {
        await post(`/nodes/${s.home}/v1/filings`, body, s.token);
        refresh();
      } catch (exc) {
        ctx.fail(exc);
      } finally {
        submit.disabled = false;
      }
    },
  },
  field(t('me.kind'), kind), field(t('me.target'), target), field(t('me.startOptional'), start),
  h('label', { class: 'check commitment' }, commitment, h('span', null, h('b', null, t('me.commitmentTitle')), t('me.commitment'))),
  h('div', { class: 'form-actions' }, submit));

  return h('section', { class: 'card' },
    h('header', { class: 'card-head' }, h('h2', null, t('me.filingsTitle'))),
    body,
    h('div', { class: 'card-body subform' }, h('h3', null, t('me.newFiling')), form));
}

function settlementDetail(panel, s, item, ctx) {
  panel.hidden = false;
  clear(panel, loading(t('app.loading')));
  get(`/nodes/${s.home}/v1/residents/me/settlements/${item.visit_region}/${encodeURIComponent(item.settlement_id)}`, s.token).then((d) => {
    if (!ctx.alive()) return;
    panel.setAttribute('data-status', d.status);
    clear(panel,
      h('div', { class: 'detail-head' },
        h('div', null, h('h3', null, t('me.detailTitle', { place: placeName(d.visit_region) })), h('code', { class: 'id' }, d.settlement_id)),
        badge(t(`status.${d.status}`, null, d.status), statusTone(d.status)),
        h('button', { type: 'button', class: 'btn btn-small btn-ghost', onclick: () => { panel.hidden = true; } }, t('app.close'))),
      h('dl', { class: 'facts' },
        h('dt', null, t('col.settledOn')), h('dd', null, d.settled_on),
        h('dt', null, t('col.institution')), h('dd', { class: 'mono' }, d.institution_code),
        h('dt', null, t('col.medType')), h('dd', null, t(`med.${d.med_type}`, null, d.med_type))),
      d.status === 'CANCELLED' ? h('p', { class: 'notice notice-warn' }, t('me.cancelledNote')) : null,
      d.split ? splitSummary(d.split) : null,
      h('h4', null, t('me.explainTitle')),
      d.lines === null ? h('p', { class: 'notice notice-warn' }, t('me.linesMissing')) : null,
      explanationList(d.explanation || []));
    panel.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }).catch((exc) => { clear(panel, h('p', { class: 'muted' }, exc.code)); ctx.fail(exc); });
}

function settlementsCard(s, ctx) {
  const body = h('div', { class: 'card-body flush' }, loading(t('app.loading')));
  const panel = h('div', { class: 'detail', testid: 'me-settlement-detail', hidden: true });
  get(`/nodes/${s.home}/v1/residents/me/settlements`, s.token).then((list) => {
    if (!ctx.alive()) return;
    clear(body, table({
      testid: 'me-settlements',
      rows: list,
      row: (i) => ({
        'data-settlement-id': i.settlement_id, class: 'clickable', tabindex: '0',
        onclick: () => settlementDetail(panel, s, i, ctx),
        onkeydown: (e) => { if (e.key === 'Enter') settlementDetail(panel, s, i, ctx); },
      }),
      empty: t('me.noSettlements'),
      columns: [
        { label: t('col.settledOn'), cell: (i) => i.settled_on },
        { label: t('col.visitRegion'), cell: (i) => placeCell(i.visit_region) },
        { label: t('col.medType'), cell: (i) => t(`med.${i.med_type}`, null, i.med_type) },
        { label: t('col.status'), cell: (i) => badge(t(`status.${i.status}`, null, i.status), statusTone(i.status)) },
        { label: t('col.medfee'), num: true, cell: (i) => yuan(i.medfee) },
        { label: t('col.fund'), num: true, cell: (i) => yuan(i.fund) },
        { label: t('col.account'), num: true, cell: (i) => yuan(i.account) },
        { label: t('col.cash'), num: true, cell: (i) => yuan(i.cash) },
        { label: '', cell: () => h('span', { class: 'link' }, t('me.explainLink')) },
      ],
    }));
  }).catch((exc) => { clear(body, h('p', { class: 'empty' }, exc.code)); ctx.fail(exc); });
  return h('section', { class: 'card' },
    h('header', { class: 'card-head' }, h('h2', null, t('me.settlementsTitle')),
      h('span', { class: 'card-meta' }, t('me.settlementsMeta'))),
    body, h('div', { class: 'card-body' }, panel));
}

async function signedInView(root, ctx, s) {
  const me = await get(`/nodes/${s.home}/v1/residents/me`, s.token);
  if (!ctx.alive()) return;
  const out = h('button', {
    type: 'button', class: 'btn', testid: 'me-sign-out',
    onclick: async () => {
      await post(`/nodes/${s.home}/v1/residents/sign-out`, undefined, s.token).catch(() => null);
      saveSession(null);
      ctx.rerender();
    },
  }, t('me.signOut'));
  const filingsSlot = h('div');
  const refresh = () => clear(filingsSlot, filingsCard(s, ctx, refresh));
  refresh();
  root.append(
    h('section', { class: 'card profile', testid: 'me-profile' },
      h('div', { class: 'card-body profile-body' },
        h('div', { class: 'avatar avatar-lg' }, (me.masked_name || '?').slice(0, 1)),
        h('div', { class: 'profile-who' },
          h('div', { class: 'profile-name' }, me.masked_name),
          h('div', { class: 'mono muted' }, me.masked_id),
          h('div', { class: 'muted small' }, `${t('me.home')}: ${placeName(s.home, { short: false })} · ${t(`insutype.${me.insutype}`, null, me.insutype)}`)),
        h('div', { class: 'profile-balance' },
          h('div', { class: 'kpi-label' }, t('me.balance')), h('div', { class: 'kpi-value' }, yuan(me.account_balance))),
        out)),
    h('div', { class: 'stack' }, filingsSlot, settlementsCard(s, ctx)));
}

export async function renderMe(root, ctx) {
  root.append(h('div', { class: 'page-head' },
    h('div', null, h('h1', null, t('me.title')), h('p', { class: 'lead' }, t('me.lead')))));
  const s = session();
  if (s?.token) {
    try {
      await signedInView(root, ctx, s);
      return;
    } catch (exc) {
      if (!(exc instanceof ApiError && ENDED.has(exc.code))) throw exc;
      saveSession(null); // the session is over: sign in again, and say why
      ctx.fail(exc);
    }
  }
  const sample = await demo().catch(() => null);
  if (!ctx.alive()) return;
  signInView(root, ctx, sample?.residents || []);
}

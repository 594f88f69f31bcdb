/**
 * The dashboard at `/`: one static page that reads the JSON API with the visitor's token and draws what a
 * table tells less well: the pipeline as columns of stages holding the digests promoted into them, and each
 * environment's services as a bar of traffic weights per release with a dot per instance and a square per
 * analysis window of the latest rollout (passed, failed, inconclusive), the drift found in the last day, and
 * the ledger's
 * newest entries as a timeline coloured by kind (promotions, deploys, refusals, signatures). It refreshes every
 * 2 s and changes nothing. The token stays in the tab (sessionStorage); it may arrive once in the URL
 * fragment (`/#token=…`, never sent to the server), which the page removes from the address bar. Everything
 * Stages on hold say so and why. Everything the API returns is put in the page as text, never as markup, and the Content-Security-Policy allows this
 * one script (by its hash) and requests to this server only.
 */
import { createHash } from 'node:crypto';
import { ALIAS_WORDS } from '../core/index.ts';

const SCRIPT = String.raw`
const KEY = 'fixity-token';
const fragment = /(?:^#|&)token=([^&]+)/.exec(location.hash);
if (fragment) {
  sessionStorage.setItem(KEY, decodeURIComponent(fragment[1]));
  history.replaceState(null, '', location.pathname);
}
const $ = (id) => document.getElementById(id);
const el = (tag, attrs, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'style') node.style.cssText = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
};
// A digest as 12 hex digits and its alias (core/alias.ts: an adjective and an animal from the first two bytes).
const WORDS = ${JSON.stringify(ALIAS_WORDS)};
const aliasOf = (hex) => WORDS.adjectives[parseInt(hex.slice(0, 2), 16)] + '-' + WORDS.animals[parseInt(hex.slice(2, 4), 16)];
const short = (d) => (typeof d === 'string' && d.startsWith('sha256:') ? d.slice(7, 19) + ' ' + aliasOf(d.slice(7)) : String(d ?? '—'));
const ago = (iso) => {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? s + 's ago' : s < 3600 ? Math.round(s / 60) + 'm ago' : s < 86400 ? Math.round(s / 3600) + 'h ago' : Math.round(s / 86400) + 'd ago';
};
// Within a service, one colour per release, the same in the bar, the legend and the instance dots: the
// serving release first (blue), the one rolling out next (orange).
const PALETTE = ['#3b6fd8', '#e07b39', '#8e5bd0', '#1f9aa8', '#b8407a', '#6b7a12'];
function coloursOf(s) {
  const order = [s.currentRelease, s.rollout && s.rollout.target, ...Object.keys(s.weights || {}),
    ...(s.instances || []).map((i) => i.release)].filter((r, i, all) => r && all.indexOf(r) === i);
  return new Map(order.map((r, i) => [r, PALETTE[i % PALETTE.length]]));
}
async function api(path) {
  const res = await fetch('/api/v1' + path, { headers: { Authorization: 'Bearer ' + sessionStorage.getItem(KEY) } });
  if (res.status === 401 || res.status === 403) throw Object.assign(new Error('the token was refused'), { auth: true });
  if (!res.ok) throw new Error(path + ': HTTP ' + res.status);
  return res.json();
}
function stageCard(stage, promotions, hold) {
  const list = el('ul');
  for (const p of promotions.slice().reverse())
    list.append(el('li', { 'data-digest': p.digest, title: p.digest + (p.reason ? '\n' + p.reason : '') },
      el('code', {}, short(p.digest)), ' ', p.repository, el('br'), el('small', {}, p.actor + ' · ' + ago(p.promotedAt))));
  if (promotions.length === 0) list.append(el('li', { class: 'empty' }, 'nothing yet'));
  const flags = [stage.protected ? 'protected' : '', stage.auto ? 'auto' : ''].filter(Boolean).join(' · ');
  const held = hold ? el('p', { class: 'held', 'data-held': 'true' }, 'on hold: ' + hold.reason + ' (' + hold.by + ')') : '';
  return el('div', { class: 'stage', 'data-stage': stage.name }, el('h3', {}, stage.name), el('small', {}, flags), held, list);
}
function serviceCard(s) {
  const colour = coloursOf(s);
  const bar = el('div', { class: 'bar' });
  const weights = Object.entries(s.weights || {}).filter(([, w]) => w > 0);
  for (const [release, w] of weights)
    bar.append(el('span', { class: 'seg', 'data-release': release, 'data-weight': String(w), title: release + ': ' + w + '%',
      style: 'width:' + w + '%;background:' + colour.get(release) }, w + '%'));
  if (weights.length === 0) bar.append(el('span', { class: 'none' }, s.currentRelease ? short(s.currentRelease) : 'not deployed yet'));
  const legend = el('div', { class: 'legend' });
  for (const [release, c] of colour) {
    const role = release === s.currentRelease ? 'serving' : s.rollout && release === s.rollout.target ? 'rolling out' : release === s.previousRelease ? 'previous' : 'release';
    const ready = (s.instances || []).filter((i) => i.release === release && i.state === 'ready').length;
    legend.append(el('span', { class: 'key', title: release }, el('i', { style: 'background:' + c }),
      el('code', {}, short(release)), ' ' + role + ' · ' + ((s.weights || {})[release] || 0) + '% · ' + ready + ' ready'));
  }
  const dots = el('div', { class: 'instances' });
  for (const i of s.instances || [])
    dots.append(el('span', { class: 'dot ' + i.state, 'data-state': i.state, title: i.id + ' · ' + i.state + ' · ' + i.release,
      style: 'border-color:' + (colour.get(i.release) || '#999') }));
  // The rollout's analysis windows, one square each: passed, failed, or too few requests to judge.
  const runs = el('div', { class: 'runs' });
  for (const st of ((s.rollout && s.rollout.steps) || []).filter((x) => x.action === 'analysis'))
    runs.append(el('span', { class: 'run ' + st.result, 'data-run': st.result === 'applied' ? 'passed' : st.result === 'failed' ? 'failed' : 'inconclusive',
      title: st.at + ' · ' + st.detail }));
  if (runs.childElementCount > 0) runs.prepend(el('small', {}, 'analysis '));
  const rollout = s.rollout && s.rollout.status === 'active'
    ? el('small', { class: 'rollout' }, (s.rollout.strategy || 'rollout') + ' · ' + (s.rollout.phase || '') + ' · ' + (s.rollout.message || ''))
    : el('small', {}, s.url ? s.url : '');
  return el('div', { class: 'service', 'data-service': s.service }, el('h4', {}, s.service), bar, legend, dots, runs, rollout);
}
// Drift found in the last day, newest first: what changed in which instance, and what was done about it.
function driftView(report) {
  const day = Date.now() - 86400000;
  const recent = ((report && report.recorded) || []).filter((r) => Date.parse(r.at) > day).slice(0, 3);
  if (recent.length === 0) return '';
  const list = el('ul', { class: 'drift', 'data-drift': String(recent.length) });
  for (const r of recent) {
    const f = (r.findings || [])[0] || {};
    const more = (r.findings || []).length > 1 ? ' (+' + ((r.findings || []).length - 1) + ')' : '';
    list.append(el('li', { title: JSON.stringify(r.findings) }, 'Δ ' + r.service + ' ' + String(r.instance).slice(0, 12) + ': ' +
      (f.kind || 'changed') + ' ' + (f.subject || '') + more + ' → ' + r.action + ' · ' + ago(r.at)));
  }
  return list;
}
// The ledger's newest entries as a timeline, each dot coloured by what kind of change it records.
const FAMILY = [['promot', '#2e9e5b'], ['approv', '#2e9e5b'], ['deploy', '#e07b39'], ['rollout', '#e07b39'],
  ['rollback', '#d0443a'], ['veto', '#d0443a'], ['hold', '#d0443a'], ['sign', '#8e5bd0'], ['key', '#8e5bd0']];
const familyOf = (kind) => (FAMILY.find(([p]) => String(kind).includes(p)) || [null, '#3b6fd8'])[1];
function ledgerView(feed) {
  const summary = el('p', { class: 'summary', 'data-size': String(feed.size) },
    feed.size + ' entries, each in a signed Merkle tree: ', el('code', {}, 'fixity ledger verify'), ' checks them all offline');
  const list = el('ol', { class: 'timeline' });
  for (const { index, entry } of feed.items) {
    const kind = entry.event || entry.kind || entry.type || 'entry';
    const what = [entry.repo, entry.tag, entry.stage, entry.environment || entry.env].filter(Boolean).join(' · ');
    const digest = (entry.digests && entry.digests[0]) || entry.digest;
    list.append(el('li', { 'data-index': String(index), 'data-event': kind, title: JSON.stringify(entry, null, 1) },
      el('i', { style: 'background:' + familyOf(kind) }),
      el('b', {}, kind), ' ', what ? what + ' ' : '', digest ? el('code', {}, short(digest)) : '',
      el('br'), el('small', {}, '#' + index + ' · ' + (entry.actor || '—') + (entry.time ? ' · ' + ago(entry.time) : ''))));
  }
  if (feed.items.length === 0) list.append(el('li', { class: 'empty' }, 'nothing recorded yet'));
  return [summary, list];
}
async function render() {
  if (!sessionStorage.getItem(KEY)) return showLogin('');
  try {
    const pipeline = await api('/pipeline').catch((e) => (e.auth ? Promise.reject(e) : null));
    const stages = pipeline ? pipeline.spec.stages : [];
    const holds = new Map((await api('/holds')).items.map((h) => [h.stage, h]));
    const columns = await Promise.all(stages.map(async (st) =>
      stageCard(st, (await api('/promotions?stage=' + encodeURIComponent(st.name))).items, holds.get(st.name))));
    $('pipeline').replaceChildren(...(columns.length ? columns : [el('p', { class: 'empty' }, 'no pipeline yet: fixity pipeline apply FILE')]));
    const envs = (await api('/environments')).items;
    const cards = await Promise.all(envs.map(async (e) => {
      const path = '/environments/' + encodeURIComponent(e.name);
      const status = await api(path + '/status');
      const drift = await api(path + '/drift?live=false').catch((err) => (err.auth ? null : Promise.reject(err)));
      return el('div', { class: 'env', 'data-env': e.name }, el('h3', {}, e.name + ' '), el('small', {}, 'stage ' + status.stage + ' · version ' + status.version),
        ...status.services.map(serviceCard), driftView(drift));
    }));
    $('environments').replaceChildren(...(cards.length ? cards : [el('p', { class: 'empty' }, 'no environments yet: fixity env apply FILE')]));
    const feed = await api('/ledger/entries?last=12').catch((e) => (e.auth ? null : Promise.reject(e)));
    $('ledger').replaceChildren(...(feed ? ledgerView(feed) : [el('p', { class: 'empty' }, 'this token may not read the ledger')]));
    $('login').hidden = true;
    $('main').hidden = false;
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (e) {
    if (e.auth) return showLogin('That token was refused.');
    $('updated').textContent = 'could not refresh: ' + e.message;
  }
}
function showLogin(message) {
  $('main').hidden = true;
  $('login').hidden = false;
  $('login-message').textContent = message;
}
$('login').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $('token').value.trim());
  $('token').value = '';
  render();
});
render();
setInterval(render, 2000);
`;

const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7fa}
header{background:#1d2330;color:#fff;padding:.7rem 1.2rem;display:flex;gap:1rem;align-items:baseline}
header h1{font-size:1.1rem;margin:0}header small{opacity:.7}
main,#login{padding:1rem 1.2rem}h2{font-size:1rem;margin:1.2rem 0 .5rem}
#pipeline{display:flex;gap:.8rem;overflow-x:auto}
.stage{background:#fff;border:1px solid #d9dde6;border-radius:6px;min-width:13rem;padding:.5rem .7rem}
.stage h3,.env h3{margin:.1rem 0;font-size:1rem}.stage ul{list-style:none;padding:0;margin:.4rem 0 0}
.stage li{padding:.25rem 0;border-top:1px solid #eef0f4}code{font-size:.85rem}
#environments{display:grid;grid-template-columns:repeat(auto-fill,minmax(22rem,1fr));gap:.8rem}
.env{background:#fff;border:1px solid #d9dde6;border-radius:6px;padding:.5rem .7rem}
.service h4{margin:.6rem 0 .2rem;font-size:.95rem}
.bar{display:flex;height:1.4rem;border-radius:4px;overflow:hidden;background:#eef0f4;font-size:.75rem;color:#fff}
.seg{display:flex;align-items:center;justify-content:center;white-space:nowrap;overflow:hidden}
.none{color:#5b6475;padding:0 .4rem;line-height:1.4rem}
.instances{margin:.3rem 0}.dot{display:inline-block;width:.8rem;height:.8rem;border-radius:50%;margin-right:.2rem;border:3px solid #999;box-sizing:border-box}
.dot.ready{background:#2e9e5b}.dot.starting{background:#e0b030}.dot.failed,.dot.quarantined{background:#d0443a}.dot.stopped{background:#c8ccd4}
.empty,small{color:#5b6475}.rollout{color:#8a5a00}
.held{margin:.3rem 0;padding:.2rem .4rem;background:#fff4e0;border-radius:4px;color:#8a5a00;font-size:.85rem}
.legend{font-size:.8rem;color:#3a4252;margin-top:.3rem;display:flex;flex-direction:column;gap:.1rem}
.key i{display:inline-block;width:.7rem;height:.7rem;border-radius:2px;margin-right:.35rem;vertical-align:-1px}
#ledger{background:#fff;border:1px solid #d9dde6;border-radius:6px;padding:.5rem .9rem}.summary{margin:.2rem 0 .6rem}
.drift{list-style:none;margin:.5rem 0 0;padding:.3rem .5rem;background:#fdecea;border-radius:4px;color:#8a2a22;font-size:.85rem}
.runs{margin:.2rem 0}.run{display:inline-block;width:.7rem;height:.7rem;margin-right:.15rem;border-radius:2px;background:#c8ccd4}
.run.applied{background:#2e9e5b}.run.failed{background:#d0443a}
.timeline{list-style:none;margin:0;padding:0 0 0 .5rem;border-left:2px solid #d9dde6}
.timeline li{position:relative;padding:.2rem 0 .45rem .9rem}
.timeline li i{position:absolute;left:-.95rem;top:.45rem;width:.7rem;height:.7rem;border-radius:50%;border:2px solid #fff}
`;

const BODY = `
<header><h1>Fixity</h1><small>build once, deploy many, never mutate</small><small id="updated"></small></header>
<form id="login" hidden>
  <p>Paste an access token to see the pipeline and the environments (any role with read access will do; it is
  kept in this tab only). <span id="login-message"></span></p>
  <input id="token" type="password" autocomplete="off" size="50" placeholder="fxt_…"> <button>Show</button>
  <p><small>This server also speaks <code>/v2/</code> (the OCI registry: any user name, the token as password),
  <code>/api/v1/</code> (the JSON API, <code>Authorization: Bearer</code>), <code>/metrics</code> and
  <code>/healthz</code>. <code>npx fixity login URL</code> sets up the CLI.</small></p>
</form>
<main id="main" hidden>
  <h2>Pipeline</h2><div id="pipeline"></div>
  <h2>Environments</h2><div id="environments"></div>
  <h2>Ledger</h2><div id="ledger"></div>
</main>`;

const hashOf = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The page and the Content-Security-Policy that lets exactly its script run. */
export const DASHBOARD = {
  html: `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Fixity</title><style>${STYLE}</style></head>
<body>${BODY}
<script>${SCRIPT}</script></body></html>
`,
  csp: [
    "default-src 'none'",
    `script-src ${hashOf(SCRIPT)}`,
    "style-src 'unsafe-inline'",
    "connect-src 'self'",
    "img-src 'self'",
    "form-action 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
};

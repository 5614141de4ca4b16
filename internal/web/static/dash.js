// The dashboard at /: create a room's links, see the live rooms (peers,
// streaming and recording with each destination's state, a picture of the
// output), start and stop, and play or delete recordings. It calls the
// HTTP API with the management token: pasted at the login (kept for the
// tab in sessionStorage), or handed out by GET /v1/session when the server
// listens on loopback only.
//
// For tests, window.dashboard = {ready, rooms, recordings} mirrors what is
// shown.

const $ = sel => document.querySelector(sel);
const TOKEN_KEY = 'roomcast.management';
const REFRESH_MS = 2000;
const dash = window.dashboard = { ready: false, rooms: [], recordings: [] };
let token = sessionStorage.getItem(TOKEN_KEY) || '';
const cards = new Map(); // room name → its card's elements
const armed = new Set();  // recordings whose Delete was pressed once

class APIError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

// api calls the API and returns its JSON (or a Blob with as: 'blob');
// errors carry the API's code and message, which name the field.
async function api(method, path, body, { as } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.ok && as === 'blob') return r.blob();
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!r.ok) {
    if (r.status === 401) logout('The server refused the token: ' + (data?.message || r.statusText));
    throw new APIError(r.status, data?.code || 'internal', data?.message || `${r.status} ${r.statusText}`);
  }
  return data;
}

function show(el, err) {
  el.textContent = err ? err.message : '';
  el.hidden = !err;
}

async function boot() {
  $('#login-form').addEventListener('submit', e => {
    e.preventDefault();
    token = $('#token').value.trim();
    enter();
  });
  $('#logout').addEventListener('click', () => logout(''));
  $('#create').addEventListener('submit', createRoom);
  if (!token) {
    const r = await fetch('/v1/session').catch(() => null);
    if (r?.ok) token = (await r.json()).token;
  }
  enter();
}

async function enter() {
  if (!token) return logout('');
  try {
    await api('GET', '/v1/rooms');
  } catch (err) {
    if (err.status !== 401) show($('#login-error'), err);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $('#login').hidden = true;
  $('#app').hidden = $('#logout').hidden = false;
  refresh();
}

function logout(why) {
  token = '';
  sessionStorage.removeItem(TOKEN_KEY);
  $('#app').hidden = $('#logout').hidden = true;
  $('#login').hidden = false;
  show($('#login-error'), why ? new Error(why) : null);
}

let timer = null;
async function refresh() {
  clearTimeout(timer);
  try {
    const [rooms, recs] = await Promise.all([api('GET', '/v1/rooms'), api('GET', '/v1/recordings')]);
    renderRooms(rooms);
    renderRecordings(recs);
    dash.ready = true;
  } catch (err) {
    if (!token) return;
    console.warn('dashboard refresh', err);
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

// createRoom mints host, guest and viewer links for the room named.
async function createRoom(e) {
  e.preventDefault();
  show($('#create-error'), null);
  const room = $('#room-name').value.trim();
  try {
    const links = await Promise.all(['host', 'guest', 'viewer'].map(role =>
      api('POST', '/v1/tokens', { room, identity: role, role }).then(t => ({ role, url: location.origin + t.url }))));
    $('#links').replaceChildren(...links.map(({ role, url }) => {
      const li = document.createElement('li');
      li.dataset.role = role;
      const copy = Object.assign(document.createElement('button'), { type: 'button', className: 'small', textContent: 'Copy' });
      copy.addEventListener('click', () => navigator.clipboard?.writeText(url).then(() => { copy.textContent = 'Copied'; }, () => {}));
      const open = Object.assign(document.createElement('a'), { href: url, target: '_blank', rel: 'noopener', textContent: 'Open' });
      li.append(Object.assign(document.createElement('span'), { className: 'role', textContent: role }),
        Object.assign(document.createElement('code'), { textContent: url }), copy, open);
      return li;
    }));
  } catch (err) {
    show($('#create-error'), err);
  }
}

const active = st => st.state === 'starting' || st.state === 'started';

function renderRooms(rooms) {
  dash.rooms = rooms;
  $('#no-rooms').hidden = rooms.length > 0;
  const names = new Set(rooms.map(r => r.room));
  for (const [name, c] of cards) {
    if (!names.has(name)) { c.el.remove(); cards.delete(name); }
  }
  for (const r of rooms) updateCard(cards.get(r.room) || newCard(r.room), r);
}

function newCard(name) {
  const el = $('#room-card').content.firstElementChild.cloneNode(true);
  el.dataset.room = name;
  const q = sel => el.querySelector(sel);
  const c = { el, q, thumbURL: null };
  q('.name').textContent = name;
  const err = q('.error');
  const act = fn => () => { show(err, null); fn().then(refresh, e => show(err, e)); };
  const path = suffix => `/v1/rooms/${encodeURIComponent(name)}${suffix}`;
  q('.start').addEventListener('submit', e => {
    e.preventDefault();
    const params = { rtmpURLs: q('.rtmp').value.split('\n').map(s => s.trim()).filter(Boolean), record: q('.record').checked };
    if (q('.audio-only').checked) params.audioOnly = true;
    else {
      const [width, height] = q('.resolution').value.split('x').map(Number);
      Object.assign(params, { resolution: { width, height }, layout: q('.layout').value });
    }
    act(() => api('POST', path('/beam/start'), params))();
  });
  q('.beam-stop').addEventListener('click', act(() => api('POST', path('/beam/stop'))));
  q('.tracks-start').addEventListener('click', act(() => api('POST', path('/track-recording/start'))));
  q('.tracks-stop').addEventListener('click', act(() => api('POST', path('/track-recording/stop'))));
  q('.layout').addEventListener('change', () => {
    if (c.live) act(() => api('POST', path('/beam/layout'), { layout: q('.layout').value }))();
  });
  $('#rooms').append(el);
  cards.set(name, c);
  return c;
}

function badge(label, st) {
  if (!st || st.state === 'none') return null;
  return Object.assign(document.createElement('span'), { className: `badge ${st.state}`, textContent: `${label} ${st.state}` });
}

function updateCard(c, r) {
  const { q } = c;
  const beam = r.beam || { rtmp: { state: 'none', destinations: [] }, recording: { browser: { state: 'none' }, server: { state: 'none' } } };
  const { rtmp, recording } = beam;
  q('.badges').replaceChildren(...[badge('LIVE', rtmp), badge('REC', recording.browser), badge('TRACKS', recording.server)].filter(Boolean));
  q('.peers').textContent = r.peers.length ? r.peers.map(p => `${p.identity} (${p.role})`).join(', ') : 'nobody';
  q('.dests').replaceChildren(...(rtmp.destinations || []).map(d => Object.assign(document.createElement('li'), {
    textContent: `${d.state} — ${d.url}` + (d.error ? `: ${d.error.message}` : ''),
  })));
  c.live = active(rtmp) || active(recording.browser);
  q('.beam-start').disabled = c.live;
  q('.beam-stop').disabled = !c.live;
  q('.tracks-start').disabled = active(recording.server);
  q('.tracks-stop').disabled = !active(recording.server);
  if (beam.layout) q('.layout').value = beam.layout;
  const picture = !beam.audioOnly && (rtmp.running || recording.browser.running);
  if (!picture) {
    q('.thumb').hidden = true;
    return;
  }
  api('GET', `/v1/rooms/${encodeURIComponent(r.room)}/beam/thumbnail.jpg`, undefined, { as: 'blob' }).then(b => {
    if (c.thumbURL) URL.revokeObjectURL(c.thumbURL);
    c.thumbURL = URL.createObjectURL(b);
    q('.thumb').src = c.thumbURL;
    q('.thumb').hidden = false;
  }, () => {});
}

const playable = name => /\.(mp4|m4a|webm|ogg)$/.test(name);

function fmtSize(n) {
  return n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.round(n / 1e3)} kB`;
}

function fmtLength(s) {
  if (!s) return '—';
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.round(s % 60)).padStart(2, '0')}`;
}

function renderRecordings(recs) {
  dash.recordings = recs;
  $('#no-recordings').hidden = recs.length > 0;
  $('#recordings').hidden = recs.length === 0;
  $('#recordings tbody').replaceChildren(...recs.map(rec => {
    const tr = document.createElement('tr');
    tr.dataset.id = rec.id;
    const cells = [rec.room, rec.kind, rec.status + (rec.error ? `: ${rec.error}` : ''),
      new Date(rec.startedAt).toLocaleString(), fmtLength(rec.duration), rec.size ? fmtSize(rec.size) : '—'];
    tr.append(...cells.map(t => Object.assign(document.createElement('td'), { textContent: t })));
    const actions = document.createElement('td');
    if (rec.status === 'ready') {
      for (const f of (rec.files || []).filter(f => playable(f.name))) {
        const play = Object.assign(document.createElement('button'), { type: 'button', className: 'small play', textContent: `Play ${f.name}` });
        play.addEventListener('click', () => playFile(rec, f.name));
        actions.append(play);
      }
    }
    const del = Object.assign(document.createElement('button'), { type: 'button', className: 'small danger delete',
      textContent: armed.has(rec.id) ? 'Really delete?' : 'Delete' });
    del.addEventListener('click', () => {
      if (!armed.has(rec.id)) { armed.add(rec.id); del.textContent = 'Really delete?'; return; }
      armed.delete(rec.id);
      api('DELETE', `/v1/recordings/${encodeURIComponent(rec.id)}`).then(refresh, err => alertRow(tr, err));
    });
    actions.append(del);
    tr.append(actions);
    return tr;
  }));
}

function alertRow(tr, err) {
  tr.lastElementChild.append(Object.assign(document.createElement('span'), { className: 'error', textContent: err.message }));
}

// playFile plays one file in the page through a signed link (an hour; the
// <video> cannot send the token, and seeks with ranges).
async function playFile(rec, name) {
  const link = await api('POST', `/v1/recordings/${encodeURIComponent(rec.id)}/files/${encodeURIComponent(name)}/link`);
  $('#player-title').textContent = `${rec.room} — ${name}`;
  $('#player-box').hidden = false;
  const v = $('#player');
  v.src = link.url;
  v.play().catch(() => { /* needs a gesture: the controls are there */ });
}

boot();

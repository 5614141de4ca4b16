// The meeting app: a grid of tiles, mic/camera/leave controls and a
// participant list, on top of the browser SDK. A beam-role token gets the
// clean view: tiles only, joined with no click.
//
// For driving programs (the beam worker, tests) the page keeps
// window.roomcast = {joined, client, error, timing, audioBlocked,
// playoutSkew, standby, enter}: joined turns true once the page has joined and decoded a
// remote video frame (or joined a room with nobody publishing);
// audioBlocked counts the peers whose sound the browser refuses to play
// until the user interacts with the page; playoutSkew (beam view) is how far
// ahead of its sound a peer's picture plays, in ms (the worst peer), and
// pictureLead the peers' median of it (the worker delays the stream's
// picture by as much).
//
// Standby (?standby=1): a worker's warm sandbox loads the app before any
// job, and the page waits (standby true) until enter(url) takes it to a
// meeting URL of this app: the address changes in place (no load) and the
// page starts as if it had been opened there. That spares a job the page's
// load (~250 ms warm). timing's values are ms since the page started.
import {
  createClient, ConnectionState, selectConnection, selectLocalPeer, selectRemotePeers,
  selectTracks, selectLocalTracks, selectError, selectRTMPState, selectRecordingState,
} from '/sdk/roomcast.js';
import { createStage } from '/static/stage.js';

const $ = sel => document.querySelector(sel);
// What the page's address says: set by configure, at load or on enter.
let room, token, claims, isBeam, audioOnly, canPublish, canStartStop;
let startedAt = 0; // performance.now() when the page started (entered)

function configure() {
  const q = new URLSearchParams(location.search);
  room = decodeURIComponent(location.pathname.replace(/^\/meet\//, '').replace(/\/$/, ''));
  token = q.get('token') || '';
  claims = decodeClaims(token);
  isBeam = claims.role === 'beam';
  // An audio-only beam (?audioOnly=1) receives the room's sound and no video.
  audioOnly = isBeam && q.get('audioOnly') === '1';
  canPublish = claims.role === 'host' || claims.role === 'guest';
  canStartStop = claims.role === 'host';
}

const since = () => performance.now() - startedAt;

const client = createClient();
const page = window.roomcast = { joined: false, client, error: null, timing: {}, audioBlocked: 0, playoutSkew: null, pictureLead: null, standby: false };
const tiles = new Map(); // peer id (or 'local') → tile element
const stage = createStage($('#grid'));
page.stage = stage; // (for tests: stage.speaker)

// decodeClaims reads the token's payload for display only; the server
// verifies the token.
function decodeClaims(jwt) {
  try {
    const b64 = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(b64.padEnd(b64.length + (4 - b64.length % 4) % 4, '=')));
  } catch {
    return {};
  }
}

function showError(err) {
  page.error = { code: err.code || 'internal', message: err.message };
  const box = $('#error');
  box.textContent = err.message;
  box.hidden = false;
}

function setup() {
  $('#room-name').textContent = room;
  if (isBeam) {
    document.body.classList.add('beam');
    // Lip sync and the active speaker are the picture's business: an
    // audio-only beam has neither (and spares their getStats calls and a
    // second, silent, audio output).
    if (!audioOnly) {
      if (!page.audioContext) warmAudioOutput();
      setInterval(syncPlayout, 500);
      setInterval(() => {
        const peerOf = {};
        for (const t of Object.values(client.store.getState().tracks)) peerOf[t.id] = t.peerId;
        stage.listen(client.pc, peerOf);
      }, 250);
    }
    $('#lobby').hidden = true;
    join();
    return;
  }
  if (!token) {
    showError({ code: 'unauthenticated', message: 'This link has no token. Ask the host for a meeting link, or mint one with `roomcast token --room ' + room + ' --identity NAME --role guest`.' });
    $('#join').disabled = true;
    return;
  }
  $('#lobby-title').textContent = `Join “${room}”`;
  $('#lobby-who').textContent = claims.sub ? `as ${claims.sub} (${claims.role || 'guest'})` : '';
  $('#join').addEventListener('click', join);
  $('#sound-on').addEventListener('click', unblockAudio);
  $('#leave').addEventListener('click', leave);
  $('#toggle-mic').addEventListener('click', () => toggle('audio'));
  $('#toggle-cam').addEventListener('click', () => toggle('video'));
  $('#share-screen').addEventListener('click', () => {
    const act = client.store.getState(selectLocalTracks).screen ? client.actions.stopScreenShare() : client.actions.startScreenShare();
    act.catch(err => { if (err.code !== 'permission_denied') showError(err); });
  });
  if (canStartStop) setupBeamPanel();
}

// The host's panel to start and stop streaming and recording.
function setupBeamPanel() {
  const panel = $('#beam-panel'), toggleBtn = $('#beam-toggle');
  toggleBtn.hidden = false;
  toggleBtn.addEventListener('click', () => {
    panel.hidden = !panel.hidden;
    $('#stage').classList.toggle('panel-open', !panel.hidden);
    toggleBtn.setAttribute('aria-expanded', String(!panel.hidden));
    layout();
  });
  const beamError = err => {
    const box = $('#beam-error');
    box.textContent = err ? err.message : '';
    box.hidden = !err;
  };
  panel.addEventListener('submit', e => {
    e.preventDefault();
    beamError(null);
    const [width, height] = $('#resolution').value.split('x').map(Number);
    const params = {
      rtmpURLs: ['#rtmp-1', '#rtmp-2', '#rtmp-3'].map(q => $(q).value.trim()).filter(Boolean),
      record: $('#record').checked,
    };
    if ($('#audio-only').checked) params.audioOnly = true;
    else Object.assign(params, { resolution: { width, height }, layout: $('#layout').value });
    client.actions.startRTMPOrRecording(params).catch(beamError);
  });
  $('#audio-only').addEventListener('change', () => { $('#resolution').disabled = $('#audio-only').checked; renderBeam(); });
  // While live the layout and the destinations change on the fly.
  $('#layout').addEventListener('change', () => {
    if (!client.store.getState().beam.layout) return; // not live: it applies at the start
    beamError(null);
    client.actions.setLayout($('#layout').value).catch(beamError);
  });
  $('#add-url').addEventListener('click', () => {
    beamError(null);
    const url = $('#rtmp-add').value.trim();
    client.actions.addDestination(url).then(() => { $('#rtmp-add').value = ''; }, beamError);
  });
  $('#destinations').addEventListener('click', e => {
    const i = e.target.dataset.remove;
    if (i === undefined) return;
    beamError(null);
    client.actions.removeDestination(Number(i)).catch(beamError);
  });
  $('#beam-stop').addEventListener('click', () => {
    beamError(null);
    client.actions.stopRTMPAndRecording().catch(beamError);
  });
  $('#tracks-start').addEventListener('click', () => {
    beamError(null);
    client.actions.startTrackRecording().catch(beamError);
  });
  $('#tracks-stop').addEventListener('click', () => {
    beamError(null);
    client.actions.stopTrackRecording().catch(beamError);
  });
}

// renderBeam shows every peer what runs (header badges) and the host the
// per-destination state.
function renderBeam() {
  if (isBeam) stage.setLayout(client.store.getState().beam.layout || 'grid');
  const rtmp = client.store.getState(selectRTMPState);
  const rec = client.store.getState(selectRecordingState);
  const badge = (label, st) => {
    if (st.state === 'none') return null;
    const el = document.createElement('span');
    el.className = 'badge ' + st.state;
    el.textContent = `${label} ${st.state}` + (st.error ? `: ${st.error.message}` : '');
    el.title = st.startedAt ? `since ${st.startedAt.toLocaleTimeString()}` : '';
    return el;
  };
  $('#beam-status').replaceChildren(...[badge('LIVE', rtmp), badge('REC', rec.browser), badge('TRACKS', rec.server)].filter(Boolean));
  const beam = client.store.getState().beam;
  // Starting counts: running turns true only once media flows.
  const active = st => st.state === 'starting' || st.state === 'started';
  $('#destinations').replaceChildren(...rtmp.destinations.map((d, i) => {
    const li = document.createElement('li');
    const st = document.createElement('span');
    st.className = 'state';
    st.textContent = d.state;
    li.append(st, d.url + (d.error ? ` — ${d.error.message}` : ''));
    if (canStartStop && active(rtmp)) {
      const rm = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Remove', className: 'small' });
      rm.dataset.remove = String(i);
      rm.setAttribute('aria-label', `Remove destination ${i + 1}`);
      li.append(rm);
    }
    return li;
  }));
  if (canStartStop) {
    $('#add-destination').hidden = !(active(rtmp) || active(rec.browser)) || rtmp.destinations.length >= 3;
    if (beam.layout) $('#layout').value = beam.layout;
    $('#layout').disabled = !!beam.audioOnly || (!beam.layout && $('#audio-only').checked);
  }
  const running = active(rtmp) || active(rec.browser);
  $('#beam-start').disabled = running;
  $('#beam-stop').disabled = !running;
  $('#tracks-start').disabled = active(rec.server);
  $('#tracks-stop').disabled = !active(rec.server);
}

async function join() {
  page.error = null;
  page.joined = false;
  page.timing = { start: since() };
  $('#error').hidden = true;
  $('#join').disabled = true;
  try {
    await client.actions.join({ room, token, ...(audioOnly ? { receive: 'audio' } : {}) });
    page.timing.joined = since();
    $('#lobby').hidden = true;
    $('#stage').hidden = false;
    $('#controls').hidden = isBeam;
    if (canPublish) {
      await client.actions.publish({ audio: true, video: true }).catch(showError);
      page.timing.published = since();
    }
    if (!canPublish) $('#toggle-mic').hidden = $('#toggle-cam').hidden = $('#share-screen').hidden = true;
    render();
  } catch (err) {
    showError(err);
    $('#join').disabled = false;
  }
}

function leave() {
  client.actions.leave();
  backToLobby(`You left “${room}”`);
}

function backToLobby(title) {
  for (const tile of tiles.values()) tile.remove();
  tiles.clear();
  page.joined = false;
  $('#stage').hidden = $('#controls').hidden = true;
  $('#lobby').hidden = false;
  $('#lobby-title').textContent = title;
  $('#join').textContent = 'Rejoin';
  $('#join').disabled = false;
}

function toggle(kind) {
  const local = client.store.getState(selectLocalTracks)[kind];
  if (!local) return;
  if (kind === 'audio') client.actions.setAudioEnabled(!local.enabled);
  else client.actions.setVideoEnabled(!local.enabled);
}

// Tiles show peers that can publish or do; viewers and the beam only appear
// in the list (and the beam nowhere: the server hides it).
const showsTile = (peer, tracks) => peer.role === 'host' || peer.role === 'guest' || tracks.length > 0;

function render() {
  const s = client.store.getState();
  if (selectConnection(s) !== ConnectionState.CONNECTED) return;
  const self = selectLocalPeer(s);
  const remote = selectRemotePeers(s);
  const tracks = selectTracks(s);
  const want = new Map();
  const localTracks = selectLocalTracks(s);
  if (!isBeam && self && localTracks.video) {
    want.set('local', { peer: self, tracks: [localTracks.video.track], local: true });
  }
  if (!isBeam && self && localTracks.screen) {
    want.set('local:screen', { peer: self, tracks: [localTracks.screen.track], local: true, screen: true });
  }
  for (const peer of remote) {
    const mine = tracks.filter(t => t.peerId === peer.id && t.source !== 'screen').map(t => t.track);
    if (showsTile(peer, mine)) want.set(peer.id, { peer, tracks: mine, local: false });
    // A screen share is a tile of its own (the stage, in the beam view).
    const screen = tracks.filter(t => t.peerId === peer.id && t.source === 'screen').map(t => t.track);
    if (screen.length) want.set(peer.id + ':screen', { peer: { ...peer, video: true, audio: true }, tracks: screen, local: false, screen: true });
  }
  for (const [id, tile] of tiles) {
    if (!want.has(id)) { tile.remove(); tiles.delete(id); }
  }
  for (const [id, w] of want) updateTile(id, w);
  layout();
  renderParticipants(self, remote);
  const cams = $('#toggle-cam'), mics = $('#toggle-mic');
  $('#share-screen').textContent = localTracks.screen ? 'Stop sharing' : 'Share screen';
  $('#share-screen').setAttribute('aria-pressed', String(!!localTracks.screen));
  cams.textContent = localTracks.video && !localTracks.video.enabled ? 'Start camera' : 'Stop camera';
  cams.setAttribute('aria-pressed', String(!!localTracks.video && !localTracks.video.enabled));
  mics.textContent = localTracks.audio && !localTracks.audio.enabled ? 'Unmute mic' : 'Mute mic';
  mics.setAttribute('aria-pressed', String(!!localTracks.audio && !localTracks.audio.enabled));
  // Nobody is sending video: there is nothing to wait for.
  if (!page.joined && (audioOnly || !remote.some(p => p.video))) markJoined();
}

function updateTile(id, { peer, tracks, local, screen }) {
  let tile = tiles.get(id);
  if (!tile) {
    tile = document.createElement('div');
    tile.className = 'tile' + (local ? ' local' : '') + (screen ? ' screen' : '');
    tile.dataset.peer = id;
    tile.innerHTML = '<video autoplay playsinline muted></video><audio autoplay></audio><div class="avatar"></div>' +
      '<div class="label"><span class="name"></span><span class="mic-off" title="muted">muted</span></div>';
    const video = tile.querySelector('video');
    video.muted = true; // pictures only: sound plays through the tile's <audio>
    if (!local) watchFirstFrame(video);
    if (local) $('#grid').prepend(tile); else $('#grid').append(tile);
    tiles.set(id, tile);
  }
  const who = local ? `${peer.identity} (you)` : peer.identity;
  tile.querySelector('.name').textContent = screen ? `${who}: screen` : who;
  tile.querySelector('.avatar').textContent = (peer.identity || '?').slice(0, 1).toUpperCase();
  tile.classList.toggle('no-video', !peer.video || !tracks.some(t => t.kind === 'video'));
  tile.classList.toggle('no-audio', !local && !peer.audio);
  attach(tile.querySelector('video'), tracks.filter(t => t.kind === 'video'), () => {});
  // One's own microphone is never played back.
  if (!local) attach(tile.querySelector('audio'), tracks.filter(t => t.kind === 'audio'), playAudio);
}

// attach gives a media element these tracks (when they changed) and starts it.
function attach(el, tracks, play) {
  const current = el.srcObject ? el.srcObject.getTracks().map(t => t.id).sort().join() : '';
  if (current === tracks.map(t => t.id).sort().join()) return;
  el.srcObject = tracks.length ? new MediaStream(tracks) : null;
  if (tracks.length) play(el);
  else blockedAudio.delete(el);
}

// warmAudioOutput opens the browser's audio output before any peer's sound
// arrives. Opening it takes Chromium a few hundred milliseconds the first
// time; the sound received meanwhile queued up and played late, and the
// catching up showed as the first seconds of a recording out of sync.
function warmAudioOutput() {
  try {
    const ac = new AudioContext();
    ac.resume().catch(() => {});
    page.audioContext = ac;
  } catch { /* no audio output: nothing to warm */ }
}

// syncPlayout (beam view) keeps each peer's sound from playing ahead of
// its picture in the recording. It measures how far ahead of its sound a
// peer's picture plays, from getStats estimatedPlayoutTimestamp (the
// sender's clock time of what plays now), keeps the worst in
// page.playoutSkew (ms; positive: the sound is late) for the worker's
// /metrics, and holds an early sound back with the audio receiver's
// jitterBufferTarget, half the error a second (a quarter each half
// second, the worker reads the measure as often; the jitter buffer stretches
// the sound smoothly). A late sound is Chromium's own synchronizer's to fix
// (it delays the picture); doing that here with the video receiver's target
// held and skipped frames.
const audioTargets = new WeakMap(); // audio receiver → ms held back
async function syncPlayout() {
  const pc = client.pc;
  if (!pc || syncPlayout.busy) return;
  syncPlayout.busy = true;
  try {
    const receivers = new Map(pc.getReceivers().filter(r => r.track).map(r => [r.track.id, r]));
    const peerOf = {};
    for (const t of Object.values(client.store.getState().tracks)) peerOf[t.id] = t.peerId;
    const by = {};
    (await pc.getStats()).forEach(s => {
      const p = peerOf[s.trackIdentifier], r = receivers.get(s.trackIdentifier);
      if (s.type === 'inbound-rtp' && s.estimatedPlayoutTimestamp && p && r) (by[p] = by[p] || {})[s.kind] = { ts: s.estimatedPlayoutTimestamp, r };
    });
    let worst = null;
    const skews = [];
    for (const { audio, video } of Object.values(by)) {
      if (!audio || !video) continue;
      const skew = video.ts - audio.ts;
      skews.push(skew);
      if (worst === null || Math.abs(skew) > Math.abs(worst)) worst = skew;
      const held = audioTargets.get(audio.r) || 0;
      let next = held;
      if (skew < -15) next = Math.min(held - skew / 4, 500);
      else if (skew > 15) next = Math.max(held - skew / 4, 0);
      if (next !== held && 'jitterBufferTarget' in audio.r) {
        audioTargets.set(audio.r, next);
        audio.r.jitterBufferTarget = Math.round(next);
      }
    }
    page.playoutSkew = worst;
    skews.sort((a, b) => a - b);
    const mid = skews.length >> 1;
    page.pictureLead = skews.length === 0 ? null : skews.length % 2 ? skews[mid] : (skews[mid - 1] + skews[mid]) / 2;
  } catch { /* closed meanwhile */ } finally {
    syncPlayout.busy = false;
  }
}

// Remote sound plays through one <audio> per tile, never muted by the page:
// the <video> beside it is muted, so pictures always autoplay and a picture
// that is replaced (srcObject swapped, play() aborted) never silences a
// peer. A browser that refuses sound before the user has interacted with the
// page (NotAllowedError; the beam's Chromium never does) gets every refused
// element retried on the next gesture, with a prompt saying so. Any other
// rejection (AbortError: a newer srcObject superseded this one) needs nothing:
// autoplay starts the new source.
const blockedAudio = new Set();

function playAudio(el) {
  el.muted = false;
  el.play().then(() => {
    blockedAudio.delete(el);
    renderSoundPrompt();
  }, err => {
    if (err.name !== 'NotAllowedError') return;
    blockedAudio.add(el);
    renderSoundPrompt();
  });
}

function unblockAudio() {
  for (const el of [...blockedAudio]) playAudio(el);
}

function renderSoundPrompt() {
  for (const el of [...blockedAudio]) if (!el.isConnected) blockedAudio.delete(el);
  page.audioBlocked = blockedAudio.size;
  $('#sound-on').hidden = isBeam || blockedAudio.size === 0;
}

function watchFirstFrame(video) {
  const done = () => markJoined();
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(done);
  else video.addEventListener('loadeddata', done, { once: true });
}

function markJoined() {
  if (page.joined || client.store.getState(selectConnection) !== ConnectionState.CONNECTED) return;
  page.timing.firstFrame = since();
  page.joined = true;
  document.body.dataset.joined = 'true';
}

// layout picks the column count that makes 16:9 tiles largest (the beam
// view's speaker layouts place the tiles their own way, stage.js).
function layout() {
  if (isBeam) stage.apply();
  const grid = $('#grid');
  const n = Math.max(tiles.size, 1);
  const W = grid.clientWidth || innerWidth, H = grid.clientHeight || innerHeight;
  let best = { cols: 1, size: 0 };
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const size = Math.min(W / cols, (H / rows) * 16 / 9);
    if (size > best.size) best = { cols, size };
  }
  grid.style.setProperty('--cols', best.cols);
  grid.style.setProperty('--rows', Math.ceil(n / best.cols));
  let empty = grid.querySelector('.empty');
  if (tiles.size === 0 && !isBeam) {
    if (!empty) {
      empty = document.createElement('p');
      empty.className = 'empty';
      empty.textContent = 'Nobody else is here yet. Share a link to this room.';
      grid.append(empty);
    }
  } else if (empty) {
    empty.remove();
  }
}

function renderParticipants(self, remote) {
  const list = $('#participants');
  const people = self ? [{ ...self, you: true }, ...remote] : remote;
  list.replaceChildren(...people.map(p => {
    const li = document.createElement('li');
    const name = document.createElement('span');
    name.textContent = p.identity + (p.you ? ' (you)' : '');
    const role = document.createElement('span');
    role.className = 'role';
    role.textContent = p.role + (p.audio ? '' : ' · muted');
    li.append(name, role);
    return li;
  }));
  $('#people-count').textContent = `(${people.length})`;
}

addEventListener('pointerdown', unblockAudio, true);
addEventListener('keydown', unblockAudio, true);
client.store.subscribe(render, s => [s.peers, s.tracks, s.localTracks, s.localPeer, s.connection]);
client.store.subscribe(conn => { $('#status').textContent = conn; }, selectConnection);
client.store.subscribe(renderBeam, s => s.beam);
client.store.subscribe(err => {
  if (!err) return;
  showError(err);
  if (isBeam) page.joined = false; // the worker sees it and loads the page again
  // The beam worker watches window.roomcast.error and reloads; people get
  // the lobby back with a Rejoin button.
  if (!isBeam && !$('#stage').hidden) backToLobby(`Disconnected from “${room}”`);
}, selectError);
addEventListener('resize', layout);
if (new URLSearchParams(location.search).get('standby') === '1') {
  page.standby = true;
  warmAudioOutput(); // opening the output takes ~100 ms: not the job's
  page.enter = url => {
    const u = new URL(url, location.href);
    if (!page.standby || u.origin !== location.origin || !u.pathname.startsWith('/meet/')) {
      throw new Error('enter: not a meeting URL of this app, or not on standby');
    }
    page.standby = false;
    history.replaceState(null, '', u.pathname + u.search);
    startedAt = performance.now();
    configure();
    setup();
  };
} else {
  configure();
  setup();
}

// roomcast browser SDK (ES module). Its TypeScript declarations are
// /sdk/roomcast.d.ts, generated from the Go SDK.
//
//   import { createClient, selectRemotePeers } from '/sdk/roomcast.js';
//   const client = createClient();
//   client.store.subscribe(peers => render(peers), selectRemotePeers);
//   await client.actions.join({ room: 'demo', token });
//   await client.actions.publish({ audio: true, video: true });
//
// Actions return promises that reject with a RoomcastError {code, message}.
// The store holds plain immutable objects: every change replaces what
// changed, so selectors can be compared by reference.

const PROTOCOL_VERSION = 1;
// A forwarded screen share's stream id is this and the peer's id.
const SCREEN_PREFIX = 'screen:';

/** Seed enum: the state of a recording. */
export const RecordingState = Object.freeze({
  NONE: 'none', STARTING: 'starting', STARTED: 'started', STOPPED: 'stopped', FAILED: 'failed',
});

/** Seed enum: the state of RTMP streaming. */
export const StreamingState = Object.freeze({
  NONE: 'none', STARTING: 'starting', STARTED: 'started', STOPPED: 'stopped', FAILED: 'failed',
});

/** The codes of RoomcastError (and of every error in a state): the server's. */
export const ErrorCode = Object.freeze({
  INVALID_ARGUMENT: 'invalid_argument', UNAUTHENTICATED: 'unauthenticated', PERMISSION_DENIED: 'permission_denied',
  NOT_FOUND: 'not_found', CONFLICT: 'conflict', RESOURCE_EXHAUSTED: 'resource_exhausted',
  UNAVAILABLE: 'unavailable', DESTINATION: 'destination', INTERNAL: 'internal',
});

/** Connection states of a client. */
export const ConnectionState = Object.freeze({
  IDLE: 'idle', CONNECTING: 'connecting', CONNECTED: 'connected',
  RECONNECTING: 'reconnecting', DISCONNECTED: 'disconnected', FAILED: 'failed',
});

/** An error with a machine-readable code (the server's codes) and a message a person can act on. */
export class RoomcastError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'RoomcastError';
    this.code = code;
  }
}

const idle = { running: false, state: 'none' };

const initialState = Object.freeze({
  connection: ConnectionState.IDLE,
  error: null,        // {code, message} of the last fatal error
  room: null,
  localPeer: null,    // {id, identity, role, audio, video}
  peers: {},          // visible remote peers by id
  tracks: {},         // remote tracks by id: {id, peerId, kind, source ('microphone' | 'camera' | 'screen'), track, stream}
  localTracks: {},    // own tracks by kind: {id, kind, track, enabled}
  beam: { rtmp: { ...idle, destinations: [] }, recording: { browser: idle, server: idle } },
});

// Selectors.
export const selectConnection = s => s.connection;
export const selectIsConnected = s => s.connection === ConnectionState.CONNECTED;
export const selectError = s => s.error;
export const selectRoom = s => s.room;
export const selectLocalPeer = s => s.localPeer;
export const selectPeers = s => (s.localPeer ? [s.localPeer, ...Object.values(s.peers)] : Object.values(s.peers));
export const selectRemotePeers = s => Object.values(s.peers);
export const selectTracks = s => Object.values(s.tracks);
export const selectLocalTracks = s => s.localTracks;
/** selectTracksByPeer(id) is a selector of that peer's remote tracks. */
export const selectTracksByPeer = peerId => s => Object.values(s.tracks).filter(t => t.peerId === peerId);
/** {browser, server}: the composite (beam) recording and the SFU track recording. */
export const selectRecordingState = s => s.beam.recording;
/** {running, startedAt, state, error, destinations}. */
export const selectRTMPState = s => s.beam.rtmp;
/** {audio, video, since} while a composite job runs (the live monitor), else undefined. */
export const selectBeamHealth = s => s.beam.health;

function shallowEqual(a, b) {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every(k => Object.is(a[k], b[k]));
}

function createStore() {
  let state = initialState;
  const subs = new Set();
  return {
    getState(selector) { return selector ? selector(state) : state; },
    /** Calls cb(value, previous) whenever selector(state) changes (shallowly); returns an unsubscribe function. */
    subscribe(cb, selector = s => s) {
      const sub = { cb, selector, last: selector(state) };
      subs.add(sub);
      return () => subs.delete(sub);
    },
    update(fn) {
      state = Object.freeze({ ...state, ...fn(state) });
      for (const sub of [...subs]) {
        const value = sub.selector(state);
        if (shallowEqual(value, sub.last)) continue;
        const prev = sub.last;
        sub.last = value;
        try { sub.cb(value, prev); } catch (e) { console.error('roomcast: subscriber failed', e); }
      }
    },
  };
}

function defaultURL() {
  const u = new URL('/rtc', import.meta.url);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.href;
}

// normalizeBeam freezes a server state and turns startedAt (and the
// health's since) into Dates, as the seed's interfaces have them. health
// ({audio: ok|quiet|lost|unknown, video: ok|frozen|black|unknown, since}) is
// there while a composite job runs, else undefined.
function normalizeBeam(b) {
  const status = st => Object.freeze({ ...st, startedAt: st.startedAt ? new Date(st.startedAt) : undefined });
  return Object.freeze({
    rtmp: Object.freeze({ ...status(b.rtmp), destinations: Object.freeze((b.rtmp.destinations || []).map(d => Object.freeze({ ...d }))) }),
    recording: Object.freeze({ browser: status(b.recording.browser), server: status(b.recording.server) }),
    health: b.health ? Object.freeze({ ...b.health, since: new Date(b.health.since) }) : undefined,
    layout: b.layout || undefined,
  });
}

const without = (obj, pred) => Object.fromEntries(Object.entries(obj).filter(([k, v]) => !pred(k, v)));

// maxRedirects bounds the servers one connection attempt is sent on to.
const maxRedirects = 4;

/**
 * createClient returns {actions, store, pc}. options.url is the signaling
 * WebSocket (default: /rtc on the server that served this SDK);
 * options.rtcConfig is passed to RTCPeerConnection; options.reconnectTimeout
 * (ms, default 30000) is how long a client that lost its server keeps
 * trying to join again (connection 'reconnecting'), publishing what it
 * published before. A server may send the client to the server its room
 * lives on (a redirect); that is followed without a change of state.
 */
export function createClient(options = {}) {
  const store = createStore();
  const entryURL = options.url || defaultURL();
  const reconnectTimeout = options.reconnectTimeout ?? 30000;
  const client = { store, pc: null, actions: null };
  let ws = null;
  let session = null;             // {room, token, joined} from join until leave or failure
  let redirectTo = null;          // where the server said to go, until the socket closes
  let redirects = 0;              // in this connection attempt
  let retry = null;               // {deadline, delay, timer} while reconnecting
  let retryable = false;          // the server ended the session for a passing reason
  let nextID = 1;
  const pending = new Map();      // request id → {resolve, reject}
  let joinWaiter = null;          // {resolve, reject} until `joined`
  let remoteCandidates = [];      // server candidates that arrived before the offer
  let negotiation = Promise.resolve(); // serialises offers
  let screenSender = null;        // the screen share's sender on the current media connection

  const send = msg => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg)); };

  function request(msg) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new RoomcastError('unavailable', 'not connected to the server'));
    const id = nextID++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      send({ ...msg, id });
    });
  }

  function fail(code, message) {
    const err = new RoomcastError(code, message);
    store.update(() => ({ connection: ConnectionState.FAILED, error: { code, message } }));
    if (joinWaiter) { joinWaiter.reject(err); joinWaiter = null; }
    rejectPending(err);
    teardown();
    return err;
  }

  function rejectPending(err) {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  }

  // disconnect closes the socket and the media connection and forgets the
  // room's peers and tracks; the own tracks stay (a reconnect sends them).
  function disconnect() {
    if (ws) { ws.onclose = null; ws.onmessage = null; ws.close(); ws = null; }
    if (client.pc) { client.pc.close(); client.pc = null; }
    store.update(() => ({ tracks: {}, peers: {} }));
  }

  function teardown() {
    session = null;
    if (retry) { clearTimeout(retry.timer); retry = null; }
    disconnect();
    for (const t of Object.values(store.getState().localTracks)) t.track.stop();
    store.update(() => ({ localTracks: {} }));
  }

  // connect opens a socket to url and joins the session's room on it with
  // a new media connection.
  function connect(url) {
    disconnect();
    remoteCandidates = [];
    negotiation = Promise.resolve();
    redirectTo = null;
    retryable = false;
    client.pc = newPeerConnection();
    screenSender = null;
    const { room, token, receive } = session;
    const sock = ws = new WebSocket(url);
    sock.onopen = () => send({ type: 'join', v: PROTOCOL_VERSION, room, token, ...(receive ? { receive } : {}) });
    sock.onmessage = e => {
      let m;
      try { m = JSON.parse(e.data); } catch { return; }
      onMessage(m);
    };
    sock.onclose = e => {
      if (ws !== sock) return;
      ws = null;
      const state = store.getState().connection;
      if (!session || state === ConnectionState.FAILED || state === ConnectionState.DISCONNECTED) return;
      if (redirectTo) {
        const to = redirectTo;
        if (++redirects > maxRedirects) { fail('unavailable', `sent on through more than ${maxRedirects} servers; the room's server could not be found`); return; }
        // Moved while in the room: its media comes back once joined there.
        if (session.joined) store.update(() => ({ connection: ConnectionState.RECONNECTING }));
        connect(to);
        return;
      }
      if (session.joined || retryable) { reconnect(); return; }
      fail('unavailable', `connection to the server closed${e.reason ? ': ' + e.reason : ''}`);
    };
  }

  // reconnect joins again through the URL the client started with (the
  // server, or the servers' one name, that knows where the room lives now),
  // first after 250 ms, then every 500 ms, until reconnectTimeout.
  function reconnect() {
    disconnect();
    rejectPending(new RoomcastError('unavailable', 'the connection to the server was lost; reconnecting'));
    if (!retry) retry = { deadline: Date.now() + reconnectTimeout, delay: 250, timer: null };
    else retry.delay = 500;
    if (Date.now() + retry.delay > retry.deadline) {
      fail('unavailable', `lost the connection to the server and could not join again within ${Math.round(reconnectTimeout / 1000)} s`);
      return;
    }
    store.update(() => ({ connection: ConnectionState.RECONNECTING }));
    retry.timer = setTimeout(() => { if (session) { redirects = 0; connect(entryURL); } }, retry.delay);
  }

  // publishAgain sends the own tracks on the new media connection after a
  // reconnect, muted or not as they were.
  async function publishAgain() {
    const { screen, ...own } = store.getState().localTracks;
    if (screen) shareScreen(screen.track).catch(e => console.error('roomcast: sharing the screen again after a reconnect failed', e));
    const local = Object.values(own);
    if (!local.length || !client.pc) return;
    const stream = new MediaStream(local.map(l => l.track));
    for (const l of local) client.pc.addTrack(l.track, stream);
    const has = kind => local.some(l => l.kind === kind);
    const on = kind => local.some(l => l.kind === kind && l.enabled);
    try {
      await request({ type: 'publish', audio: has('audio'), video: has('video') });
      store.update(s => ({ localPeer: Object.freeze({ ...s.localPeer, audio: on('audio'), video: on('video') }) }));
      if (has('audio') !== on('audio') || has('video') !== on('video')) send({ type: 'media', audio: on('audio'), video: on('video') });
    } catch (e) {
      if (e.code !== 'unavailable') console.error('roomcast: publishing again after a reconnect failed', e);
    }
  }

  function newPeerConnection() {
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', ...(options.rtcConfig || {}) });
    pc.onicecandidate = e => { if (e.candidate) send({ type: 'candidate', candidate: e.candidate.toJSON() }); };
    pc.ontrack = e => {
      const stream = e.streams[0];
      if (!stream) return;
      const track = e.track;
      // A screen share comes in a stream of its own, "screen:" + the peer id.
      const screen = stream.id.startsWith(SCREEN_PREFIX);
      const entry = Object.freeze({
        id: track.id, peerId: screen ? stream.id.slice(SCREEN_PREFIX.length) : stream.id, kind: track.kind,
        source: screen ? 'screen' : track.kind === 'audio' ? 'microphone' : 'camera', track, stream,
      });
      store.update(s => ({ tracks: { ...s.tracks, [track.id]: entry } }));
      const drop = () => store.update(s => ({ tracks: without(s.tracks, k => k === track.id) }));
      track.addEventListener('ended', drop);
      stream.addEventListener('removetrack', ev => { if (ev.track === track) drop(); });
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed' && client.pc === pc) fail('unavailable', 'media connection to the server failed (UDP blocked?)');
    };
    return pc;
  }

  async function applyOffer(sdp) {
    const pc = client.pc;
    if (!pc) return;
    await pc.setRemoteDescription({ type: 'offer', sdp });
    for (const c of remoteCandidates.splice(0)) await pc.addIceCandidate(c).catch(() => {});
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    send({ type: 'answer', sdp: pc.localDescription.sdp });
  }

  function onMessage(m) {
    switch (m.type) {
      case 'joined': {
        const again = session.joined;
        session.joined = true;
        redirects = 0;
        if (retry) { clearTimeout(retry.timer); retry = null; }
        store.update(() => ({
          connection: ConnectionState.CONNECTED,
          localPeer: Object.freeze(m.self),
          peers: Object.fromEntries((m.peers || []).map(p => [p.id, Object.freeze(p)])),
        }));
        if (joinWaiter) { joinWaiter.resolve(m.self); joinWaiter = null; }
        if (again) publishAgain();
        break;
      }
      case 'redirect':
        redirectTo = m.url; // followed when the server closes the socket
        break;
      case 'offer':
        negotiation = negotiation.then(() => applyOffer(m.sdp)).catch(e => fail('internal', `negotiation failed: ${e.message}`));
        break;
      case 'candidate':
        if (client.pc && client.pc.remoteDescription) client.pc.addIceCandidate(m.candidate).catch(() => {});
        else remoteCandidates.push(m.candidate);
        break;
      case 'peer-joined':
      case 'peer-updated':
        store.update(s => ({ peers: { ...s.peers, [m.peer.id]: Object.freeze(m.peer) } }));
        break;
      case 'peer-left':
        store.update(s => ({
          peers: without(s.peers, k => k === m.id),
          tracks: without(s.tracks, (_, t) => t.peerId === m.id),
        }));
        break;
      case 'state':
        store.update(() => ({ beam: normalizeBeam(m.beam) }));
        break;
      case 'ok': {
        const p = pending.get(m.id);
        if (p) { pending.delete(m.id); p.resolve(m); }
        break;
      }
      case 'error': {
        const p = m.id && pending.get(m.id);
        if (p) { pending.delete(m.id); p.reject(new RoomcastError(m.code, m.message)); }
        // A server going away (unavailable) is left for another; any
        // other error without an id ends the session.
        else if (m.code === 'unavailable' && session && (session.joined || retry)) retryable = true;
        else fail(m.code, m.message);
        break;
      }
    }
  }

  /**
   * join connects to room with a join token; resolves with the local peer.
   * receive: 'audio' receives the others' sound only (no video is sent to
   * this client at all).
   */
  function join({ room, token, receive }) {
    if (!room || !token) return Promise.reject(new RoomcastError('invalid_argument', 'join needs room and token'));
    if (session) return Promise.reject(new RoomcastError('conflict', 'already joined; leave first'));
    store.update(() => ({ ...initialState, connection: ConnectionState.CONNECTING, room }));
    if (receive !== undefined && receive !== 'audio') return Promise.reject(new RoomcastError('invalid_argument', "join: receive must be 'audio' or left out"));
    session = { room, token, receive, joined: false };
    redirects = 0;
    return new Promise((resolve, reject) => {
      joinWaiter = { resolve, reject };
      connect(entryURL);
    });
  }

  /**
   * publish sends the camera and/or mic. options.stream may carry tracks to
   * send; otherwise getUserMedia is asked (video 640x360 by default, or
   * options.videoConstraints).
   */
  async function publish({ audio = true, video = true, stream, videoConstraints } = {}) {
    const pc = client.pc;
    if (!pc || store.getState().connection !== ConnectionState.CONNECTED) {
      throw new RoomcastError('unavailable', 'join a room before publishing');
    }
    const media = stream || await navigator.mediaDevices.getUserMedia({
      audio,
      video: video && (videoConstraints || { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 30 } }),
    }).catch(e => { throw new RoomcastError('permission_denied', `camera/microphone: ${e.message}`); });
    const tracks = media.getTracks().filter(t => (t.kind === 'audio' ? audio : video));
    // Tracks are added before asking: the server's next offer carries the
    // receive slots they attach to (docs/PROTOCOL.md).
    const senders = tracks.map(t => pc.addTrack(t, media));
    try {
      await request({ type: 'publish', audio: tracks.some(t => t.kind === 'audio'), video: tracks.some(t => t.kind === 'video') });
    } catch (e) {
      for (const s of senders) { try { pc.removeTrack(s); } catch { /* closed */ } }
      if (!stream) tracks.forEach(t => t.stop());
      throw e;
    }
    store.update(s => ({
      localTracks: { ...s.localTracks, ...Object.fromEntries(tracks.map(t => [t.kind, Object.freeze({ id: t.id, kind: t.kind, track: t, enabled: t.enabled })])) },
      localPeer: Object.freeze({ ...s.localPeer, audio: s.localPeer.audio || tracks.some(t => t.kind === 'audio'), video: s.localPeer.video || tracks.some(t => t.kind === 'video') }),
    }));
    return media;
  }

  /**
   * startScreenShare asks the browser for a screen (getDisplayMedia) and
   * sends it as a second video track of this peer (localTracks.screen;
   * others see it with source 'screen' and the peer's screen: true). It
   * stops on its own when the person ends the share in the browser's UI.
   * options.stream may carry the video track to share instead.
   */
  async function startScreenShare({ stream } = {}) {
    const pc = client.pc;
    if (!pc || store.getState().connection !== ConnectionState.CONNECTED) {
      throw new RoomcastError('unavailable', 'join a room before sharing a screen');
    }
    if (store.getState().localTracks.screen) throw new RoomcastError('conflict', 'already sharing a screen; stop it first');
    const media = stream || await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false })
      .catch(e => { throw new RoomcastError('permission_denied', `screen share: ${e.message}`); });
    const track = media.getVideoTracks()[0];
    if (!track) throw new RoomcastError('invalid_argument', 'screen share: the stream has no video track');
    try {
      await shareScreen(track);
    } catch (e) {
      if (!stream) track.stop();
      throw e;
    }
    track.addEventListener('ended', () => { if (store.getState().localTracks.screen?.track === track) stopScreenShare().catch(() => {}); });
    return media;
  }

  // shareScreen sends track on the screen slot: a new sender the first
  // time (the server's next offer brings the slot it attaches to), the same
  // one after (no renegotiation).
  async function shareScreen(track) {
    const pc = client.pc;
    let added = null;
    if (screenSender) await screenSender.replaceTrack(track);
    else screenSender = added = pc.addTrack(track, new MediaStream([track]));
    try {
      await request({ type: 'screen', on: true });
    } catch (e) {
      if (added) { try { pc.removeTrack(added); } catch { /* closed */ } screenSender = null; }
      throw e;
    }
    store.update(s => ({
      localTracks: { ...s.localTracks, screen: Object.freeze({ id: track.id, kind: 'video', source: 'screen', track, enabled: true }) },
      localPeer: Object.freeze({ ...s.localPeer, screen: true }),
    }));
  }

  /** stopScreenShare ends the screen share; the camera and mic go on. */
  async function stopScreenShare() {
    const local = store.getState().localTracks.screen;
    if (!local) return;
    store.update(s => ({ localTracks: without(s.localTracks, k => k === 'screen'), localPeer: Object.freeze({ ...s.localPeer, screen: false }) }));
    local.track.stop();
    if (screenSender) await screenSender.replaceTrack(null).catch(() => {});
    if (store.getState().connection === ConnectionState.CONNECTED) await request({ type: 'screen', on: false });
  }

  function setEnabled(kind, enabled) {
    const s = store.getState();
    const local = s.localTracks[kind];
    if (!local) return;
    local.track.enabled = enabled;
    store.update(st => ({
      localTracks: { ...st.localTracks, [kind]: Object.freeze({ ...local, enabled }) },
      localPeer: Object.freeze({ ...st.localPeer, [kind]: enabled }),
    }));
    const peer = store.getState().localPeer;
    send({ type: 'media', audio: !!peer.audio, video: !!peer.video });
  }

  /** leave ends the session; the store returns to idle with connection 'disconnected'. */
  function leave() {
    send({ type: 'leave' });
    rejectPending(new RoomcastError('unavailable', 'left the room'));
    teardown();
    store.update(() => ({ connection: ConnectionState.DISCONNECTED, localPeer: null }));
  }

  /**
   * startRTMPOrRecording starts streaming (rtmpURLs), recording (record) or
   * both together: {meetingURL?, rtmpURLs?, record?, resolution?: {width, height}}.
   * Resolves once the server accepted; progress arrives in the store
   * (selectRTMPState, selectRecordingState). Needs the host role.
   */
  function startRTMPOrRecording(params = {}) {
    if (store.getState().connection !== ConnectionState.CONNECTED) {
      return Promise.reject(new RoomcastError('unavailable', 'join a room before starting streaming or recording'));
    }
    return request({ type: 'beam-start', params }).then(() => undefined);
  }

  /** stopRTMPAndRecording stops streaming and recording together. */
  function stopRTMPAndRecording() {
    if (store.getState().connection !== ConnectionState.CONNECTED) {
      return Promise.reject(new RoomcastError('unavailable', 'join a room before stopping streaming or recording'));
    }
    return request({ type: 'beam-stop' }).then(() => undefined);
  }

  /**
   * startTrackRecording starts SFU recording: every track of the room to its
   * own file (selectRecordingState(...).server). Needs the host role.
   */
  function startTrackRecording() {
    return roomRequest('track-recording-start', 'starting track recording');
  }

  /** stopTrackRecording stops SFU recording. */
  function stopTrackRecording() {
    return roomRequest('track-recording-stop', 'stopping track recording');
  }

  /** setLayout changes the running composite's layout: 'grid', 'speaker' or 'single-speaker'. Needs the host role. */
  function setLayout(layout) {
    return roomRequest('beam-layout', 'changing the layout', { layout });
  }

  /** addDestination adds an RTMP(S) URL to the running stream (3 at most). Needs the host role. */
  function addDestination(url) {
    return roomRequest('beam-add-url', 'adding a destination', { url });
  }

  /** removeDestination stops streaming to the destination at index (as the state lists them). Needs the host role. */
  function removeDestination(index) {
    return roomRequest('beam-remove-url', 'removing a destination', { index });
  }

  function roomRequest(type, what, fields = {}) {
    if (store.getState().connection !== ConnectionState.CONNECTED) {
      return Promise.reject(new RoomcastError('unavailable', `join a room before ${what}`));
    }
    return request({ type, ...fields }).then(() => undefined);
  }

  client.actions = {
    join,
    publish,
    startRTMPOrRecording,
    stopRTMPAndRecording,
    startTrackRecording,
    stopTrackRecording,
    setAudioEnabled: enabled => setEnabled('audio', enabled),
    setVideoEnabled: enabled => setEnabled('video', enabled),
    startScreenShare,
    stopScreenShare,
    setLayout,
    addDestination,
    removeDestination,
    leave,
  };
  return client;
}

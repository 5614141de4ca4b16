// A backend in JavaScript (Node 18+, no packages): roomcast's REST API
// with fetch. The request and answer shapes are in /v1/openapi.json (and,
// typed, in /sdk/roomcast.d.ts).
//
//   ROOMCAST_URL=http://localhost:7880 ROOMCAST_TOKEN=$(roomcast token --management) node examples/rest.mjs demo
//
// It mints a guest link for the room, shows the room's streaming and
// recording state, starts a recording when nothing runs (with START=1),
// and lists the room's recordings with a link that plays each file.
const base = process.env.ROOMCAST_URL ?? 'http://localhost:7880';
const token = process.env.ROOMCAST_TOKEN;
const room = process.argv[2] ?? 'demo';
if (!token) throw new Error('set ROOMCAST_TOKEN to a management token (roomcast token --management)');

// call sends one request; an error answer throws its code and message.
async function call(method, path, body) {
  const r = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await r.json();
  if (!r.ok) throw Object.assign(new Error(`${method} ${path}: ${data.code}: ${data.message}`), { code: data.code });
  return data;
}

const room_ = encodeURIComponent(room);
const link = await call('POST', '/v1/tokens', { room, identity: 'guest', role: 'guest' });
console.log(JSON.stringify({ guestLink: base + link.url.replace(/token=.*/, 'token=…') }));
const state = await call('GET', `/v1/rooms/${room_}/beam`);
console.log(JSON.stringify({ rtmp: state.rtmp.state, recording: state.recording.browser.state }));
if (process.env.START === '1' && !state.rtmp.running && !state.recording.browser.running) {
  const started = await call('POST', `/v1/rooms/${room_}/beam/start`, { record: true, resolution: { width: 1280, height: 720 } });
  console.log(JSON.stringify({ started: started.recording.browser.state }));
}
for (const rec of await call('GET', `/v1/recordings?room=${room_}`)) {
  const files = [];
  for (const f of rec.files ?? []) {
    const l = rec.status === 'ready' ? await call('POST', `/v1/recordings/${rec.id}/files/${encodeURIComponent(f.name)}/link`) : null;
    files.push({ name: f.name, size: f.size, play: l && base + l.url });
  }
  console.log(JSON.stringify({ recording: rec.id, status: rec.status, duration: rec.duration, files }));
}

// What a TypeScript app writes against the browser SDK: every action and
// selector with the types the declarations promise. tsc --strict must take
// it, and must refuse each @ts-expect-error line.
import {
  createClient, ConnectionState, RoomcastError, selectConnection, selectRTMPState, selectRecordingState,
  selectTracks, selectLocalTracks, selectBeamHealth, selectTracksByPeer,
  type BeamState, type Layout, type RemoteTrack, type StartParams,
} from './roomcast.js';

const client = createClient({ url: 'wss://rooms.example.com/rtc', reconnectTimeout: 10_000 });

async function main(): Promise<void> {
  const self = await client.actions.join({ room: 'demo', token: 'jwt', receive: 'audio' });
  const id: string = self.id;
  const media: MediaStream = await client.actions.publish({ audio: true, video: true });
  media.getTracks();
  const params: StartParams = { rtmpURLs: ['rtmp://a.example.com/live/KEY'], record: true, resolution: { width: 640, height: 360 }, layout: 'speaker' };
  await client.actions.startRTMPOrRecording(params);
  await client.actions.startRTMPOrRecording({ record: true, audioOnly: true });
  await client.actions.setLayout('single-speaker');
  await client.actions.addDestination('rtmp://b.example.com/live/KEY');
  await client.actions.removeDestination(1);
  const screen: MediaStream = await client.actions.startScreenShare();
  screen.getVideoTracks();
  await client.actions.stopScreenShare();
  client.actions.setAudioEnabled(false);
  await client.actions.stopRTMPAndRecording();
  await client.actions.startTrackRecording();
  await client.actions.stopTrackRecording();
  client.actions.leave();

  const connected: boolean = client.store.getState(selectConnection) === ConnectionState.CONNECTED;
  const rtmp = client.store.getState(selectRTMPState);
  const dests: string[] = rtmp.destinations.map(d => `${d.url}: ${d.state}`);
  const rec = client.store.getState(selectRecordingState);
  const tracks: RemoteTrack[] = client.store.getState(selectTracks);
  const screens = tracks.filter(t => t.source === 'screen');
  const byPeer = client.store.getState(selectTracksByPeer(id));
  const local = client.store.getState(selectLocalTracks);
  const sharing: boolean = !!local.screen;
  const health = client.store.getState(selectBeamHealth);
  const audio: string | undefined = health?.audio;
  const unsubscribe = client.store.subscribe((st: BeamState, prev: BeamState) => { const l: Layout | undefined = st.layout; void l; void prev; }, s => s.beam);
  unsubscribe();
  void [connected, dests, rec.browser.state, screens, byPeer, sharing, audio];
  try {
    await client.actions.join({ room: 'demo', token: 'jwt' });
  } catch (e) {
    if (e instanceof RoomcastError) { const code: string = e.code; void code; }
  }
}

async function mistakes(): Promise<void> {
  // @ts-expect-error: not a layout
  await client.actions.setLayout('mosaic');
  // @ts-expect-error: an index is a number
  await client.actions.removeDestination('1');
  // @ts-expect-error: receive is 'audio' or absent
  await client.actions.join({ room: 'demo', token: 'jwt', receive: 'video' });
  // @ts-expect-error: a resolution has a width and a height
  await client.actions.startRTMPOrRecording({ resolution: { width: 640 } });
}

void main;
void mistakes;

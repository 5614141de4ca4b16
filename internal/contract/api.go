package contract

// apiDeclarations are the browser SDK's own API: what roomcast.js adds to
// the Go SDK's types (its client, store and selectors). The contract test
// checks the actions and exports against roomcast.js.
const apiDeclarations = `
/** Connection states of a client. */
export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'failed';
export declare const ConnectionState: {
  readonly IDLE: 'idle';
  readonly CONNECTING: 'connecting';
  readonly CONNECTED: 'connected';
  readonly RECONNECTING: 'reconnecting';
  readonly DISCONNECTED: 'disconnected';
  readonly FAILED: 'failed';
};

/** An error with a machine-readable code and a message a person can act on. */
export declare class RoomcastError extends Error {
  constructor(code: ErrorCode, message: string);
  readonly code: ErrorCode;
}

/** A remote track as the store holds it. */
export interface RemoteTrack {
  id: string;
  peerId: string;
  kind: 'audio' | 'video';
  source: 'microphone' | 'camera' | 'screen';
  track: MediaStreamTrack;
  stream: MediaStream;
}

/** An own published track, by kind (the screen share under 'screen'). */
export interface LocalTrack {
  id: string;
  kind: 'audio' | 'video';
  source?: 'screen';
  track: MediaStreamTrack;
  enabled: boolean;
}

/** The store's state: plain immutable objects, replaced where they change. */
export interface State {
  connection: ConnectionState;
  /** The last fatal error, null while there is none. */
  error: { code: ErrorCode; message: string } | null;
  room: string | null;
  localPeer: Peer | null;
  /** Visible remote peers by id. */
  peers: Record<string, Peer>;
  /** Remote tracks by id. */
  tracks: Record<string, RemoteTrack>;
  localTracks: Partial<Record<'audio' | 'video' | 'screen', LocalTrack>>;
  beam: BeamState;
}

export type Selector<T> = (state: State) => T;

export interface Store {
  getState(): State;
  getState<T>(selector: Selector<T>): T;
  /** Calls cb(value, previous) whenever selector(state) changes (shallowly); returns an unsubscribe function. */
  subscribe<T = State>(cb: (value: T, previous: T) => void, selector?: Selector<T>): () => void;
}

export interface PublishOptions {
  audio?: boolean;
  video?: boolean;
  /** Tracks to send instead of asking getUserMedia. */
  stream?: MediaStream;
  videoConstraints?: MediaTrackConstraints;
}

/** Every action's promise rejects with a RoomcastError. */
export interface Actions {
  /** receive: 'audio' gets the others' sound only (no video is sent to this client). */
  join(options: { room: string; token: string; receive?: 'audio' }): Promise<Peer>;
  publish(options?: PublishOptions): Promise<MediaStream>;
  startRTMPOrRecording(params?: StartParams): Promise<void>;
  stopRTMPAndRecording(): Promise<void>;
  startTrackRecording(): Promise<void>;
  stopTrackRecording(): Promise<void>;
  setAudioEnabled(enabled: boolean): void;
  setVideoEnabled(enabled: boolean): void;
  /** Shares a screen (getDisplayMedia, or options.stream's video) as a second video track; ends with the browser's own stop button too. */
  startScreenShare(options?: { stream?: MediaStream }): Promise<MediaStream>;
  stopScreenShare(): Promise<void>;
  /** While a composite job runs (host role): its layout, a destination added (3 at most) or removed by its index in the state. */
  setLayout(layout: Layout): Promise<void>;
  addDestination(url: string): Promise<void>;
  removeDestination(index: number): Promise<void>;
  leave(): void;
}

export interface Client {
  actions: Actions;
  store: Store;
  pc: RTCPeerConnection | null;
}

export interface ClientOptions {
  /** The signaling WebSocket; default /rtc on the server that served the SDK. */
  url?: string;
  /** Passed to RTCPeerConnection. */
  rtcConfig?: RTCConfiguration;
  /** How long (ms) a client that lost its server keeps joining again; default 30000. */
  reconnectTimeout?: number;
}

export declare function createClient(options?: ClientOptions): Client;

export declare const selectConnection: Selector<ConnectionState>;
export declare const selectIsConnected: Selector<boolean>;
export declare const selectError: Selector<State['error']>;
export declare const selectRoom: Selector<string | null>;
export declare const selectLocalPeer: Selector<Peer | null>;
export declare const selectPeers: Selector<Peer[]>;
export declare const selectRemotePeers: Selector<Peer[]>;
export declare const selectTracks: Selector<RemoteTrack[]>;
export declare const selectLocalTracks: Selector<State['localTracks']>;
/** selectTracksByPeer(id) is a selector of that peer's remote tracks. */
export declare function selectTracksByPeer(peerId: string): Selector<RemoteTrack[]>;
/** {browser, server}: the composite recording and the SFU track recording. */
export declare const selectRecordingState: Selector<RecordingStates>;
export declare const selectRTMPState: Selector<RTMPState>;
/** The live monitor's view while a composite job runs, else undefined. */
export declare const selectBeamHealth: Selector<Health | undefined>;
`

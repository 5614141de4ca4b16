// A synthetic camera and microphone whose flash and beep come from one
// clock, for measuring what a viewer of the output gets (internal/avcheck).
// Injected before the page's own scripts (CDP
// Page.addScriptToEvaluateOnNewDocument), it replaces
// navigator.mediaDevices.getUserMedia.
//
// Picture: a dark frame (luma ~40) with a bar that moves every frame (so
// every frame differs from the one before) and a frame counter; every
// `period` seconds the frame turns white for `flash` seconds (bar and
// counter still moving).
// Sound: silence, and a `freq` Hz tone at `gain` (0.25 = -12 dBFS peak) for
// the same `flash` seconds. Both are scheduled on the AudioContext's clock:
// the beep with setValueAtTime, the frames with canvas.captureStream(0) +
// requestFrame at ticks that land on each beep's start, so the source's own
// skew is a few milliseconds, not a frame.
//
// window.__synth (set before injection) overrides the defaults;
// window.__synthStats reports frames sent and beeps scheduled.
(() => {
  const cfg = Object.assign({ width: 640, height: 360, fps: 30, period: 1, flash: 0.1, freq: 1000, gain: 0.25, silent: false },
    window.__synth || {});
  const stats = window.__synthStats = { frames: 0, flashes: 0, beeps: 0, started: 0 };
  let ac, gain, canvas, g2d;

  function drawFrame(white) {
    const { width: w, height: h } = canvas;
    g2d.fillStyle = white ? '#fff' : '#282828';
    g2d.fillRect(0, 0, w, h);
    // The bar moves every frame, flash or not: no two frames are alike.
    const x = (stats.frames * w / 40) % w;
    g2d.fillStyle = white ? '#a0a0a0' : '#e0e0e0';
    g2d.fillRect(x, h * 0.2, w / 12, h * 0.6);
    g2d.fillStyle = white ? '#808080' : '#a0a0a0';
    g2d.font = `${Math.round(h / 8)}px monospace`;
    g2d.fillText(String(stats.frames), w * 0.05, h * 0.95);
    stats.frames++;
    if (white) stats.flashes++;
  }

  // beepAt is the start of the beep period k on the audio clock.
  const beepAt = k => stats.started + k * cfg.period;

  // scheduleBeeps keeps the next few beeps scheduled on the audio clock.
  let nextBeep = 1;
  function scheduleBeeps() {
    while (beepAt(nextBeep) < ac.currentTime + 2) {
      const t = beepAt(nextBeep++);
      if (t < ac.currentTime) continue;
      if (!cfg.silent) {
        gain.gain.setValueAtTime(cfg.gain, t);
        gain.gain.setValueAtTime(0, t + cfg.flash);
      }
      stats.beeps++;
    }
  }

  // tick draws one frame and sets the next tick: every 1/fps, but never
  // past the next beep start, so a frame is drawn at that instant.
  function tick(track) {
    const now = ac.currentTime;
    const k = Math.floor((now - stats.started + 0.002) / cfg.period);
    const white = k >= 1 && now - beepAt(k) < cfg.flash - 0.002;
    drawFrame(white);
    track.requestFrame();
    scheduleBeeps();
    const frame = 1 / cfg.fps;
    let next = now + frame;
    const upcoming = beepAt(k + 1);
    if (upcoming > now + 0.004 && upcoming < next + frame / 2) next = Math.min(next, upcoming);
    setTimeout(() => tick(track), Math.max(0, (next - ac.currentTime) * 1000));
  }

  async function start() {
    ac = new AudioContext({ sampleRate: 48000, latencyHint: 'interactive' });
    await ac.resume().catch(() => {});
    const osc = ac.createOscillator();
    osc.frequency.value = cfg.freq;
    gain = ac.createGain();
    gain.gain.value = 0;
    const dest = ac.createMediaStreamDestination();
    osc.connect(gain).connect(dest);
    osc.start();
    canvas = document.createElement('canvas');
    canvas.width = cfg.width;
    canvas.height = cfg.height;
    g2d = canvas.getContext('2d');
    const video = canvas.captureStream(0).getVideoTracks()[0];
    stats.started = ac.currentTime + 0.1;
    tick(video);
    return new MediaStream([video, ...dest.stream.getAudioTracks()]);
  }

  let source;
  const fake = async constraints => {
    source = source || start();
    const s = await source;
    const want = [];
    if (constraints && constraints.video) want.push(...s.getVideoTracks());
    if (constraints && constraints.audio) want.push(...s.getAudioTracks());
    return new MediaStream(want);
  };
  // Mute / unmute the tone without touching the track (a quiet room).
  window.__synthSilence = on => {
    cfg.silent = on;
    if (on && gain) {
      gain.gain.cancelScheduledValues(0);
      gain.gain.setValueAtTime(0, ac.currentTime);
    }
  };
  Object.defineProperty(navigator.mediaDevices, 'getUserMedia', { value: fake, configurable: true });
})();

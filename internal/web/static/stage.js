// The beam view's layouts (the room state's beam.layout): grid, every tile
// equal; speaker, the active speaker large and the others in a strip
// below; single-speaker, only the active speaker. The active speaker is
// the loudest peer (inbound audioLevel, 4 times a second) once it has
// been the loudest for a second (hysteresis: a cough does not take the
// stage); before anyone spoke, the first tile. A screen share takes the
// stage in every layout (grid turns speaker while it lasts). Tiles keep
// their order whatever the layout: the stage is a grid placement, not a
// reshuffle.

const speakingLevel = 0.02; // audioLevel (0–1) above which a peer speaks
const holdMs = 1000;        // how long the loudest must lead to take the stage

export function createStage(grid) {
  let layout = 'grid';
  let current = null, candidate = null, since = 0;

  function tiles() { return [...grid.querySelectorAll('.tile')]; }

  // apply marks the stage tile and tells the grid how to lay out.
  function apply() {
    const all = tiles();
    if (!all.some(t => t.dataset.peer === current)) current = all.length ? all[0].dataset.peer : null;
    const screen = all.find(t => t.classList.contains('screen'));
    const shown = screen && layout === 'grid' ? 'speaker' : layout;
    const onStage = screen ? screen.dataset.peer : current;
    document.body.dataset.layout = shown;
    for (const t of all) t.classList.toggle('on-stage', shown !== 'grid' && t.dataset.peer === onStage);
    grid.style.setProperty('--strip', Math.max(all.length - 1, 1));
  }

  // listen samples the peers' sound levels from pc's stats; peerOf maps a
  // track id to its peer.
  async function listen(pc, peerOf) {
    if (!pc || listen.busy) return;
    listen.busy = true;
    try {
      let loud = null, best = speakingLevel;
      (await pc.getStats()).forEach(s => {
        const p = peerOf[s.trackIdentifier];
        if (s.type === 'inbound-rtp' && s.kind === 'audio' && p && (s.audioLevel || 0) > best) { best = s.audioLevel; loud = p; }
      });
      const now = performance.now();
      if (!loud || loud === current) { candidate = null; return; }
      if (loud !== candidate) { candidate = loud; since = now; return; }
      if (now - since >= holdMs) { current = loud; candidate = null; apply(); }
    } catch { /* the connection is being replaced */ } finally {
      listen.busy = false;
    }
  }

  return {
    apply,
    listen,
    setLayout(l) { if (l && l !== layout) { layout = l; apply(); } },
    get speaker() { return current; },
  };
}

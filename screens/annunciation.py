"""Audible annunciation per priority (until acknowledged, once, none) with a Silence separate from Acknowledge.

The decision is plain Python (`SoundPlanner`, tested without a browser); the browser only plays tones with the
Web Audio API, so no sound files and no text from the plant ever reach JavaScript (only small integers).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from nicegui import app, ui

from hmi.alarms.engine import Alarm
from hmi.config import SoundPolicy
from screens.i18n import _
from screens.testid import testid

_STORE = "hmi_annunciation"

# Tone patterns per priority: higher priority, higher pitch and faster pulses.
ANNUNCIATOR_JS = r"""
<script>
window.hmiAnnunciator = window.hmiAnnunciator || (() => {
  const tones = {1: [880, 250], 2: [660, 400], 3: [520, 600], 4: [440, 800]};
  let ctx = null, timer = null, current = 0;
  function ensure() {
    if (!ctx) { ctx = new (window.AudioContext || window.webkitAudioContext)(); }
    return ctx;
  }
  function beep(p) {
    const c = ensure(); if (c.state !== 'running') return;
    const [freq, ms] = tones[p] || tones[4];
    const o = c.createOscillator(), g = c.createGain();
    o.frequency.value = freq; o.type = 'square'; g.gain.value = 0.08;
    o.connect(g); g.connect(c.destination); o.start(); o.stop(c.currentTime + ms / 2000);
  }
  // Every touch is a user gesture: once allowed on this panel, the first touch on each page resumes the sound.
  document.addEventListener('pointerdown', () => {
    if (localStorage.getItem('hmiSound') === '1') ensure().resume();
  });
  return {
    enabled() { return !!ctx && ctx.state === 'running'; },
    async enable() { await ensure().resume(); localStorage.setItem('hmiSound', '1'); return this.enabled(); },
    wanted() { return localStorage.getItem('hmiSound') === '1'; },
    set(p) {
      p = Number(p) || 0;
      if (p === current) return;
      current = p; if (timer) { clearInterval(timer); timer = null; }
      if (p > 0) { beep(p); timer = setInterval(() => beep(p), (tones[p] || tones[4])[1] * 2); }
    },
    once(p) { beep(Number(p) || 4); },
  };
})();
</script>
"""


@dataclass
class SoundPlanner:
    """Per panel: which tone should sound now, and which single beeps are due (ISA-18.2 / IEC 62682
    annunciation; silencing is not acknowledging)."""

    policy: dict[int, SoundPolicy]
    silenced_up_to: int = 0
    announced_up_to: int = 0
    _started: bool = field(default=False, repr=False)

    def plan(self, alarms: Iterable[Alarm]) -> tuple[int, list[int]]:
        """(priority of the continuous tone, 0 for none; priorities to beep once) for the current alarm list."""
        continuous = 0
        beeps: list[int] = []
        newest = self.announced_up_to
        for a in alarms:
            if not a.state.unacknowledged or a.state.value == "rtn_unack":
                continue  # acknowledged and returned alarms are silent
            mode = self.policy.get(a.priority, "none")
            newest = max(newest, a.activation)
            if mode == "until_ack" and a.activation > self.silenced_up_to:
                continuous = a.priority if continuous == 0 else min(continuous, a.priority)
            elif mode == "once" and a.activation > self.announced_up_to and self._started:
                beeps.append(a.priority)
        # Alarms already standing when the panel opened are not beeped once more.
        self._started = True
        self.announced_up_to = newest
        return continuous, sorted(set(beeps))

    def silence(self, alarms: Iterable[Alarm]) -> None:
        """Stop the sound of everything standing now; a new activation sounds again."""
        self.silenced_up_to = max([self.silenced_up_to, *(a.activation for a in alarms)])


class AnnunciatorWidget:
    """Header controls: Silence, and a one-time request to allow sound on this panel.

    Silence and what was announced are kept per browser, so moving between screens neither re-sounds a silenced
    alarm nor beeps a standing one again.
    """

    def __init__(self, policy: dict[int, SoundPolicy]) -> None:
        ui.add_head_html(ANNUNCIATOR_JS)
        stored = app.storage.user.get(_STORE, {})
        self.planner = SoundPlanner(
            policy, int(stored.get("silenced", 0)), int(stored.get("announced", 0)), _started=bool(stored)
        )
        self._tone = -1
        self._enabled = False
        ui.timer(0.5, self._ask_browser, once=True)
        self.allow = testid(
            ui.button(_("Allow alarm sound"), on_click=self._enable).props("color=white outline no-caps"), "allow-sound"
        )
        self.allow.set_visibility(False)
        self.silence_button = testid(
            ui.button(_("Silence"), on_click=self._silence).props("color=white outline no-caps"), "silence"
        )
        self._alarms: list[Alarm] = []

    async def _ask_browser(self) -> None:
        try:
            self._enabled = bool(await ui.run_javascript("hmiAnnunciator.wanted()", timeout=2.0))
        except (TimeoutError, RuntimeError):
            self._enabled = False

    async def _enable(self) -> None:
        self._enabled = bool(await ui.run_javascript("hmiAnnunciator.enable()", timeout=3.0))
        self.allow.set_visibility(not self._enabled)
        self._tone = -1

    def _silence(self) -> None:
        self.planner.silence(self._alarms)
        self._push(0, [])

    def update(self, alarms: list[Alarm]) -> None:
        """Called from the frame's timer with the current alarm list."""
        self._alarms = alarms
        tone, beeps = self.planner.plan(alarms)
        # Ask for permission only when there is something to hear, and only until it is given.
        self.allow.set_visibility(not self._enabled and (tone > 0 or bool(beeps)))
        self.silence_button.set_visibility(tone > 0)
        self._push(tone, beeps)

    def _remember(self) -> None:
        value = {"silenced": self.planner.silenced_up_to, "announced": self.planner.announced_up_to}
        if app.storage.user.get(_STORE) != value:
            app.storage.user[_STORE] = value

    def _push(self, tone: int, beeps: list[int]) -> None:
        self._remember()
        if tone != self._tone:
            self._tone = tone
            ui.run_javascript(f"hmiAnnunciator.set({int(tone)})")
        for p in beeps:
            ui.run_javascript(f"hmiAnnunciator.once({int(p)})")

"""A pure, seedable process model of a packaging plant: PackML states, speeds, counters, process values.

No I/O and no clock reads: the caller passes a `random.Random` once and the current time to every `step`, so a
seed and a sequence of times always give the same values. The model reads the plant configuration and infers
each tag's role from it:

- a line's `state_tag` and each machine's `state_tag` (or a string tag named `*.State`) hold PackML state names;
- a line's `speed_tag` and machine tags named `*.Speed` or `*PerMin` are rates, near the middle of their
  normal range while the machine executes and 0 when it does not;
- a line's `good_count_tag` / `reject_count_tag` and int tags named `*Count` are counters that only grow, and
  only while the line (or machine) is in Execute;
- bool tags named `*Jam` or `*Fault` follow the machine's faults;
- float tags named `*Stock` are consumables: they run down while the machine executes and are refilled;
- bool tags named `*Closed` (guard doors) are true;
- a conveyor's `accumulation_tag` (hmi.config.Conveyor) fills while the machine after it is stopped and the one
  before it runs, empties in the opposite case and settles near the middle of its normal range while both run; its
  `state_tag` says Running, Blocked (full, the machine after it stopped), Starved (empty) or Stopped (a bool:
  true while product moves);
- every other number wanders around the middle of its normal range, with occasional excursions across its
  alarm limits; other bools stay false and other strings empty.

Tags a client may write (a `write:` rule, or the tag of a command's write) hold what was last written and the
model never changes them itself: a number named `<X>SP` (or `<X>Setpoint`) is the setpoint of the tag `<X>`, which
follows it (a line's speed setpoint sets the speed of the line and, in proportion, of its machines, within the
drives' ramp; a process value such as a temperature moves towards its setpoint); a string is a mode and starts at
the first label of the mode that names it; a bool `*Reset` clears its machine's jam when written true.
`write(tag, value)` takes a client's write. `start`, `stop` and `reset` are the PackML commands of a line
(ISA-TR88.00.02): Start from Idle or Stopped (Starting, Execute), Stop from any running state (Stopping,
Stopped), Reset from Stopped, Complete, Held or Aborted (Resetting, Idle); in any other state they raise
InvalidStateError and change nothing. A line stopped or reset by a command stays so until the next command.

Machines of a line are taken in flow order (the line's `flow`, else configuration order) as the material flow: a
machine that stops starves the machines after it and blocks the ones before it, once the buffer between them has
run empty or full.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hmi.config import LIMIT_TYPES, AlarmDef, Conveyor, Line, PlantConfig, Tag
from hmi.oee.states import PACKML_STATES

Value = bool | int | float | str

GOOD = "Good"
SENSOR_FAILURE = "BadSensorFailure"

# PackML (ISA-TR88.00.02) state names, as the HMI maps them by name (all 17: hmi.oee.states.PACKML_STATES).
EXECUTE = "Execute"
SUSPENDED = "Suspended"
# A line shows the state of its worst machine; this is the order, worst first.
_SEVERITY = (
    "Aborting",
    "Aborted",
    "Clearing",
    "Holding",
    "Held",
    "Unholding",
    "Stopping",
    "Stopped",
    "Resetting",
    "Idle",
    "Complete",
    "Completing",
    "Starting",
    "Suspending",
    SUSPENDED,
    "Unsuspending",
    EXECUTE,
)
_RANK = {name: i for i, name in enumerate(_SEVERITY)}
# States in which a machine produces at part speed (ramping up or down).
_RAMPING = frozenset({"Starting", "Unholding", "Unsuspending", "Completing"})

Plan = deque[tuple[str, float | None]]

# PackML commands of a line: the states each is accepted in (ISA-TR88.00.02; Start also from Stopped here, as the
# demo's operators expect a stopped line to start without a separate Reset).
START_FROM = frozenset({"Idle", "Stopped"})
STOP_FROM = frozenset(PACKML_STATES) - {"Stopping", "Stopped", "Aborting", "Aborted", "Clearing"}
RESET_FROM = frozenset({"Stopped", "Complete", "Held", "Aborted"})
_SETPOINT_SUFFIXES = ("SP", "Setpoint")


class InvalidStateError(Exception):
    """A line command was given in a state that does not accept it (OPC UA: BadInvalidState)."""


@dataclass(frozen=True, slots=True)
class ModelParams:
    """How lively the plant is.

    Mean times between events are per machine (faults), per line (planned stops), per process value
    (excursions) or plant-wide (sensor failures); 0 switches that kind of event off. Durations are (min, max).
    """

    fault_mtbf_s: float = 1200.0
    fault_duration_s: tuple[float, float] = (20.0, 120.0)
    abort_share: float = 0.25
    stop_mtbf_s: float = 3600.0
    stop_duration_s: tuple[float, float] = (60.0, 240.0)
    buffer_s: float = 4.0
    excursion_mtbf_s: float = 3600.0
    excursion_duration_s: tuple[float, float] = (15.0, 60.0)
    sensor_failure_mtbf_s: float = 600.0
    sensor_failure_duration_s: tuple[float, float] = (10.0, 60.0)
    reject_share: float = 0.015
    stock_duration_s: float = 1800.0
    refill_delay_s: tuple[float, float] = (45.0, 150.0)
    start_share_executing: float = 0.9
    max_step_s: float = 5.0


@dataclass(frozen=True, slots=True)
class Sample:
    """One tag's output: its value and the symbolic OPC UA status code it is served with."""

    value: Value
    status: str = GOOD


@dataclass(slots=True)
class MachineState:
    """The PackML state machine of one machine (or of a line without machines)."""

    name: str
    state_tag: str | None
    phase: str = EXECUTE
    phase_until: datetime | None = None
    plan: Plan = field(default_factory=deque)
    down_since: datetime | None = None
    fault: str = ""
    reported: str = EXECUTE
    cause: str = ""

    @property
    def producing(self) -> bool:
        """True while the machine runs and is neither starved nor blocked."""
        return self.reported == EXECUTE

    def speed_factor(self) -> float:
        """Share of nominal speed the machine runs at in its reported state."""
        if self.reported == EXECUTE:
            return 1.0
        return 0.5 if self.reported in _RAMPING else 0.0


@dataclass(slots=True)
class _Process:
    """A number that wanders around a set point (Ornstein-Uhlenbeck) with occasional excursions."""

    tag: Tag
    setpoint: float
    sigma: float
    lo: float
    hi: float
    value: float
    targets: tuple[float, ...]
    excursion_target: float | None = None
    excursion_until: datetime | None = None


@dataclass(slots=True)
class _Rate:
    tag: Tag
    nominal: float
    lo: float
    hi: float
    machine: MachineState | None
    value: float = 0.0
    base: float = 0.0


@dataclass(slots=True)
class _Written:
    """A value a client writes (setpoint, mode, pulse): the model holds it and never changes it itself."""

    tag: Tag
    value: Value
    follows: str | None = None
    machine: MachineState | None = None


@dataclass(slots=True)
class _Counter:
    tag: Tag
    machine: MachineState | None
    count: float = 0.0


@dataclass(slots=True)
class _Stock:
    tag: Tag
    machine: MachineState
    lo: float
    hi: float
    low_mark: float
    value: float
    refill_at: datetime | None = None


@dataclass(slots=True)
class _Conveyor:
    """The product on a conveyor between two machines, as a share of its span (the accumulation tag's eng_range)."""

    conveyor: Conveyor
    upstream: MachineState
    downstream: MachineState
    level: Tag | None
    state: Tag | None
    lo: float
    hi: float
    rest: float
    value: float

    def word(self) -> Value:
        """The conveyor's state as its state tag serves it: a word, or a bool for a bool tag."""
        feeding, taking = self.upstream.producing, self.downstream.producing
        span = self.hi - self.lo
        if self.state is not None and self.state.data_type == "bool":
            return feeding or taking
        if not taking and self.value >= self.hi - 0.01 * span:
            return "Blocked"
        if not feeding and self.value <= self.lo + 0.01 * span:
            return "Starved"
        return "Running" if feeding or taking else "Stopped"


@dataclass(slots=True)
class _LineModel:
    line: Line
    machines: list[MachineState]
    good: _Counter | None = None
    reject: _Counter | None = None
    speed: _Rate | None = None
    rates: list[_Rate] = field(default_factory=list)
    counters: list[_Counter] = field(default_factory=list)
    stocks: list[_Stock] = field(default_factory=list)
    processes: list[_Process] = field(default_factory=list)
    machine_speed: dict[str, _Rate] = field(default_factory=dict)
    conveyors: list[_Conveyor] = field(default_factory=list)

    @property
    def state(self) -> str:
        """The line's PackML state: its worst machine's state."""
        return min((m.reported for m in self.machines), key=lambda s: _RANK.get(s, 0))


class PlantModel:
    """The whole plant: step it with the current time, get back the tags whose output changed."""

    def __init__(
        self,
        plant: PlantConfig,
        rng: random.Random,
        now: datetime,
        params: ModelParams | None = None,
        tags: Iterable[str] | None = None,
    ) -> None:
        """Build the model for `plant` at time `now`; `tags` limits the output to those tag names."""
        self.plant = plant
        self.params = params or ModelParams()
        self._rng = rng
        self._now = now
        self._served = set(tags) if tags is not None else set(plant.tags)
        self.lines: dict[str, _LineModel] = {}
        self._machines: dict[tuple[str, str], MachineState] = {}
        self._states: dict[str, MachineState | _LineModel] = {}
        self._rates: dict[str, _Rate] = {}
        self._counters: dict[str, _Counter] = {}
        self._stocks: dict[str, _Stock] = {}
        self._processes: dict[str, _Process] = {}
        self._faults: dict[str, tuple[MachineState, str]] = {}
        self._constants: dict[str, Value] = {}
        self._conveyor_tags: dict[str, _Conveyor] = {}
        self._failed: dict[str, datetime] = {}
        self._forced: dict[str, str] = {}
        self._out: dict[str, Sample] = {}
        self._written: dict[str, _Written] = {}
        self._writable = {name for name, ref in plant.tags.items() if ref.tag.write is not None} | {
            ref.command.write.tag for ref in plant.commands.values() if ref.command.write is not None
        }
        self._modes = {
            mode.tag: mode
            for _area, line in plant.lines()
            for mode in (line.mode, *(m.mode for m in line.machines))
            if mode is not None
        }
        for _area, line in plant.lines():
            self._build_line(line)
        for written in self._written.values():
            self._follow(written)
        self._refresh_outputs()

    # ------------------------------------------------------------------------------------------------- building

    def _build_line(self, line: Line) -> None:
        flow = line.machines_in_flow()
        machines = [MachineState(m.name, m.state_tag or _named(m.tags, "State", "string")) for m in flow]
        if not machines:
            # A line without machines still runs, stops and faults: give it one implicit machine.
            machines = [MachineState(line.name, None)]
        lm = _LineModel(line, machines)
        self.lines[line.name] = lm
        for m in machines:
            self._machines[(line.name, m.name)] = m
        if self._rng.random() >= self.params.start_share_executing:
            # Some lines are still starting up when the simulation begins, so the overview is not uniform.
            starting = self._rng.uniform(3.0, 8.0)
            for m in machines:
                self._begin(m, _plan([("Starting", starting), (EXECUTE, None)]), self._now)
        if line.state_tag:
            self._states[line.state_tag] = lm
        self._build_conveyors(lm)
        key_tags = (line.state_tag, line.speed_tag, line.good_count_tag, line.reject_count_tag)
        for tag in line.tags:
            if tag.name in self._conveyor_tags:
                continue
            if tag.name == line.speed_tag:
                lm.speed = self._rate(lm, tag, None)
            elif tag.name in (line.good_count_tag, line.reject_count_tag):
                counter = _Counter(tag, None)
                self._counters[tag.name] = counter
                if tag.name == line.good_count_tag:
                    lm.good = counter
                else:
                    lm.reject = counter
            elif tag.name not in key_tags:
                self._add_tag(lm, tag, machines[0], machine_tag=False)
        for cfg, m in zip(flow, machines, strict=False):
            for tag in cfg.tags:
                if tag.name not in self._conveyor_tags:
                    self._add_tag(lm, tag, m, machine_tag=True)

    def _build_conveyors(self, lm: _LineModel) -> None:
        """The conveyors of a line whose accumulation or state tag is served (no random draws: adding a conveyor
        leaves every other value of a seeded plant as it was)."""
        for conveyor in lm.line.conveyors:
            names = [n for n in (conveyor.accumulation_tag, conveyor.state_tag) if n and n in self.plant.tags]
            if not names:
                continue
            level = self.plant.tags[conveyor.accumulation_tag].tag if conveyor.accumulation_tag in names else None
            lo, hi = (level.eng_range if level is not None else None) or (0.0, 100.0)
            normal = level.normal_range if level is not None else None
            rest = _middle(normal) if normal else _middle((lo, hi))
            up = self._machines.get((lm.line.name, conveyor.from_machine))
            down = self._machines.get((lm.line.name, conveyor.to_machine))
            if up is None or down is None:
                continue
            state = self.plant.tags[conveyor.state_tag].tag if conveyor.state_tag in names else None
            conv = _Conveyor(conveyor, up, down, level, state, lo, hi, rest, rest)
            lm.conveyors.append(conv)
            for name in names:
                self._conveyor_tags[name] = conv

    def _add_tag(self, lm: _LineModel, tag: Tag, m: MachineState, *, machine_tag: bool) -> None:
        leaf = tag.name.rsplit(".", 1)[-1]
        if tag.name in self._writable:
            self._add_written(tag, m if machine_tag else None)
        elif machine_tag and (tag.name == m.state_tag or (tag.data_type == "string" and leaf == "State")):
            self._states[tag.name] = m
        elif tag.data_type == "string":
            self._constants[tag.name] = ""
        elif tag.data_type == "bool":
            if leaf.endswith(("Jam", "Fault")):
                self._faults[tag.name] = (m, "Jam" if leaf.endswith("Jam") else "Fault")
            else:
                # Guard doors are closed; any other flag is off.
                self._constants[tag.name] = leaf.endswith("Closed")
        elif leaf == "Speed" or leaf.endswith("PerMin"):
            rate = self._rate(lm, tag, m)
            if leaf == "Speed" and machine_tag:
                lm.machine_speed[m.name] = rate
        elif tag.data_type == "int" and leaf.endswith("Count"):
            counter = _Counter(tag, m)
            self._counters[tag.name] = counter
            lm.counters.append(counter)
        elif tag.data_type == "float" and leaf.endswith("Stock"):
            lo, hi = tag.eng_range or (0.0, 100.0)
            low = _limit(tag, "L") or (tag.normal_range[0] if tag.normal_range else lo + 0.1 * (hi - lo))
            stock = _Stock(tag, m, lo, hi, low, self._rng.uniform(low + 0.2 * (hi - low), hi))
            self._stocks[tag.name] = stock
            lm.stocks.append(stock)
        else:
            proc = self._process(tag)
            self._processes[tag.name] = proc
            lm.processes.append(proc)

    def _add_written(self, tag: Tag, m: MachineState | None) -> None:
        leaf = tag.name.rsplit(".", 1)[-1]
        follows = None
        value: Value
        if tag.numeric:
            suffix = next((s for s in _SETPOINT_SUFFIXES if leaf.endswith(s) and leaf != s), None)
            follows = tag.name.removesuffix(suffix) if suffix else None
            ref = self.plant.tags.get(follows) if follows is not None else None
            target = ref.tag if ref is not None else None
            span = (target.normal_range if target else None) or tag.normal_range or tag.eng_range or (0.0, 0.0)
            value = _typed(tag, _middle(span))
        elif tag.data_type == "string":
            mode = self._modes.get(tag.name)
            value = next(iter(mode.labels), "") if mode is not None else ""
        else:
            value = leaf.endswith("Closed")
        self._written[tag.name] = _Written(tag, value, follows, m if leaf.endswith("Reset") else None)

    def _rate(self, lm: _LineModel, tag: Tag, m: MachineState | None) -> _Rate:
        lo, hi = tag.eng_range or (0.0, math.inf)
        nominal = _middle(tag.normal_range) if tag.normal_range else (0.8 * hi if tag.eng_range else 100.0)
        # Machines start at speed (or at rest, when the line starts up); the first steps settle the rest.
        rate = _Rate(tag, nominal, lo, hi, m, nominal if (m is None or m.phase == EXECUTE) else 0.0, nominal)
        self._rates[tag.name] = rate
        if m is not None:
            lm.rates.append(rate)
        return rate

    def _process(self, tag: Tag) -> _Process:
        lo, hi = tag.eng_range or (-math.inf, math.inf)
        if tag.normal_range:
            setpoint, sigma = _middle(tag.normal_range), (tag.normal_range[1] - tag.normal_range[0]) / 8
        elif tag.eng_range:
            setpoint, sigma = _middle(tag.eng_range), (hi - lo) / 50
        else:
            setpoint, sigma = 50.0, 1.0
        limits: dict[str, AlarmDef] = {a.type: a for a in tag.alarms if a.type in LIMIT_TYPES and a.limit is not None}
        targets: list[float] = []
        for kind, alarm in limits.items():
            assert alarm.limit is not None
            sign = 1.0 if kind in ("H", "HH") else -1.0
            # Go clearly past the limit and its deadband, so the excursion really raises the alarm ...
            beyond = alarm.limit + sign * (alarm.deadband + 3 * sigma + 0.005 * abs(alarm.limit))
            severe = limits.get(kind * 2) if len(kind) == 1 else None
            if severe is not None and severe.limit is not None:
                # ... but an H (L) excursion stays short of HH (LL), so the severe alarms stay rare.
                beyond = alarm.limit + (severe.limit - alarm.limit) * 0.5
            # The less severe limits (H, L) are chosen three times as often as HH and LL.
            targets += [beyond] * (3 if len(kind) == 1 else 1)
        if not targets and tag.normal_range:
            width = tag.normal_range[1] - tag.normal_range[0]
            targets = [tag.normal_range[0] - 0.3 * width, tag.normal_range[1] + 0.3 * width]
        value = min(max(setpoint + self._rng.gauss(0.0, sigma), lo), hi)
        return _Process(tag, setpoint, sigma, lo, hi, value, tuple(targets))

    # ------------------------------------------------------------------------------------------------- queries

    @property
    def now(self) -> datetime:
        """The time of the last step."""
        return self._now

    def outputs(self) -> dict[str, Sample]:
        """Every served tag's current output."""
        return dict(self._out)

    def machine(self, line: str, machine: str) -> MachineState:
        """The state machine of one machine."""
        return self._machines[(line, machine)]

    # ------------------------------------------------------------------------------------------------- commands

    def fault(self, line: str, machine: str, *, kind: str = "Held", duration_s: float = 60.0) -> dict[str, Sample]:
        """Stop a machine now as a fault would: `kind` Held (a jam) or Aborted (a drive fault)."""
        m = self._machines[(line, machine)]
        self._fault(m, kind, self._now, duration_s)
        self._update_suspension(self.lines[line], self._now)
        return self._refresh_outputs()

    def write(self, tag: str, value: Value) -> dict[str, Sample]:
        """A client wrote `value` to the writable `tag`: hold it, let the process follow it, and return the
        outputs that changed (the tag itself among them). KeyError if the tag is not writable."""
        written = self._written.get(tag)
        if written is None:
            raise KeyError(f"{tag!r} is not a writable tag of this plant")
        written.value = value
        self._follow(written)
        m = written.machine
        if m is not None and value is True and m.fault == "Held":
            # The jam is cleared: the machine unholds and runs again.
            self._begin(m, _plan([("Unholding", 2.0), (EXECUTE, None)]), self._now)
            m.fault = ""
            for lm in self.lines.values():
                if m in lm.machines:
                    self._update_suspension(lm, self._now)
        self._forced.pop(tag, None)
        return self._refresh_outputs()

    def start(self, line: str) -> dict[str, Sample]:
        """PackML Start of a line: Idle or Stopped -> Starting -> Execute; InvalidStateError otherwise."""
        return self._command(line, START_FROM, [("Starting", 3.0), (EXECUTE, None)])

    def stop(self, line: str) -> dict[str, Sample]:
        """PackML Stop of a line: -> Stopping -> Stopped, where it stays; InvalidStateError when stopped or aborted."""
        return self._command(line, STOP_FROM, [("Stopping", 2.0), ("Stopped", None)])

    def reset(self, line: str) -> dict[str, Sample]:
        """PackML Reset of a line: Stopped, Complete, Held or Aborted -> Resetting -> Idle, where it waits for Start."""
        return self._command(line, RESET_FROM, [("Resetting", 3.0), ("Idle", None)])

    def _command(self, line: str, allowed: frozenset[str], plan: list[tuple[str, float | None]]) -> dict[str, Sample]:
        lm = self.lines[line]
        if lm.state not in allowed:
            raise InvalidStateError(f"{line} is {lm.state}; the command needs one of {', '.join(sorted(allowed))}")
        for m in lm.machines:
            m.fault = ""
            self._begin(m, _plan(plan), self._now)
        self._update_suspension(lm, self._now)
        return self._refresh_outputs()

    def override(self, tag: str, value: Value) -> Sample:
        """Take an externally written value as the tag's good value; the process continues from it."""
        if tag in self._written:
            self._written[tag].value = value
            self._follow(self._written[tag])
        elif tag in self._processes:
            self._processes[tag].value = float(value)
        elif tag in self._rates:
            self._rates[tag].value = float(value)
        elif tag in self._counters:
            self._counters[tag].count = float(value)
        elif tag in self._stocks:
            self._stocks[tag].value = float(value)
        elif tag in self._constants:
            self._constants[tag] = value
        elif tag in self._conveyor_tags and isinstance(value, int | float) and not isinstance(value, bool):
            self._conveyor_tags[tag].value = float(value)
        self._forced.pop(tag, None)
        self._failed.pop(tag, None)
        self._out[tag] = Sample(value, GOOD)
        return self._out[tag]

    def force_status(self, tag: str, status: str) -> Sample:
        """Serve `tag` with `status` (e.g. BadSensorFailure) and its last value frozen; Good releases it."""
        old = self._out[tag]
        if status == GOOD:
            self._forced.pop(tag, None)
            self._failed.pop(tag, None)
        else:
            self._forced[tag] = status
        self._out[tag] = Sample(old.value, status)
        return self._out[tag]

    def _follow(self, written: _Written) -> None:
        """Point what a setpoint sets at its value: a process value's target, or the nominal of a rate; a line's
        speed setpoint scales every rate of its line."""
        if written.follows is None or isinstance(written.value, bool | str):
            return
        value = float(written.value)
        if written.follows in self._processes:
            self._processes[written.follows].setpoint = value
            return
        rate = self._rates.get(written.follows)
        if rate is None:
            return
        line = next((lm for lm in self.lines.values() if lm.speed is rate), None)
        if line is None:
            rate.nominal = value
            return
        factor = value / rate.base if rate.base else 0.0
        rate.nominal = value
        for other in line.rates:
            other.nominal = other.base * factor

    # ------------------------------------------------------------------------------------------------- stepping

    def step(self, now: datetime) -> dict[str, Sample]:
        """Advance the plant to `now`; return the served tags whose value or status changed."""
        dt = (now - self._now).total_seconds()
        if dt <= 0:
            return {}
        # After a long pause, catch up on state timers but do not let the dynamics jump.
        dt = min(dt, self.params.max_step_s)
        self._now = now
        for lm in self.lines.values():
            self._step_line(lm, now, dt)
        self._step_sensor_failures(now, dt)
        return self._refresh_outputs()

    def _chance(self, mtbf_s: float, dt: float) -> bool:
        # A Poisson process: the probability of at least one event within dt.
        return mtbf_s > 0 and self._rng.random() < 1.0 - math.exp(-dt / mtbf_s)

    def _step_line(self, lm: _LineModel, now: datetime, dt: float) -> None:
        rng, p = self._rng, self.params
        for m in lm.machines:
            self._advance(m, now)
        if all(m.phase == EXECUTE for m in lm.machines) and self._chance(p.stop_mtbf_s, dt):
            # A planned stop (changeover, cleaning, break): the whole line stops and later restarts.
            hold, idle = rng.uniform(*p.stop_duration_s), rng.uniform(5.0, 20.0)
            for m in lm.machines:
                plan = [
                    ("Stopping", 2.0),
                    ("Stopped", hold),
                    ("Resetting", 3.0),
                    ("Idle", idle),
                    ("Starting", 5.0),
                    (EXECUTE, None),
                ]
                self._begin(m, _plan(plan), now)
        for m in lm.machines:
            if m.producing and self._chance(p.fault_mtbf_s, dt):
                kind = "Aborted" if rng.random() < p.abort_share else "Held"
                self._fault(m, kind, now, rng.uniform(*p.fault_duration_s))
        self._update_suspension(lm, now)
        for rate in lm.rates:
            assert rate.machine is not None
            self._step_rate(rate, rate.machine.speed_factor(), dt)
        state = lm.state
        if lm.speed is not None:
            self._step_rate(lm.speed, 1.0 if state == EXECUTE else (0.5 if state in _RAMPING else 0.0), dt)
        if state == EXECUTE:
            self._count_production(lm, dt)
        for counter in lm.counters:
            assert counter.machine is not None
            if counter.machine.producing:
                speed = lm.machine_speed.get(counter.machine.name)
                counter.count += (speed.value if speed is not None else 60.0) / 60.0 * dt
        for stock in lm.stocks:
            self._step_stock(stock, now, dt)
        for conv in lm.conveyors:
            self._step_conveyor(conv, dt)
        for proc in lm.processes:
            self._step_process(proc, now, dt)

    def _count_production(self, lm: _LineModel, dt: float) -> None:
        speed = lm.speed.value if lm.speed is not None else 60.0
        bottles = max(speed, 0.0) / 60.0 * dt
        share = self.params.reject_share
        if any(_outside_normal(proc) for proc in lm.processes):
            # Product made while a process value is off spec is rejected more often.
            share *= 4
        reject = bottles * min(share * self._rng.uniform(0.5, 1.5), 1.0)
        if lm.good is not None:
            lm.good.count += bottles - reject
        if lm.reject is not None:
            lm.reject.count += reject

    def _step_rate(self, rate: _Rate, factor: float, dt: float) -> None:
        target = rate.nominal * factor
        # Drives ramp with a time constant of about two seconds; a running machine jitters by 0.5 %.
        rate.value += (target - rate.value) * (1.0 - math.exp(-dt / 2.0))
        if factor > 0:
            rate.value += self._rng.gauss(0.0, 0.005 * rate.nominal)
        elif rate.value < 0.02 * rate.nominal:
            rate.value = 0.0
        rate.value = min(max(rate.value, rate.lo, 0.0), rate.hi)

    def _step_conveyor(self, conv: _Conveyor, dt: float) -> None:
        # From its resting point to full (or empty) in a little less than buffer_s, the time _update_suspension
        # gives a neighbour before it is blocked (or starved): the conveyor is full first, then the machine before
        # it stops. While both ends run the level settles back to its resting point in about 20 s.
        feeding, taking = conv.upstream.producing, conv.downstream.producing
        fill_s = 0.75 * max(self.params.buffer_s, 0.1)
        if feeding and not taking:
            conv.value += (conv.hi - conv.rest) / fill_s * dt
        elif taking and not feeding:
            conv.value -= (conv.rest - conv.lo) / fill_s * dt
        elif feeding and taking:
            conv.value += (conv.rest - conv.value) * (1.0 - math.exp(-dt / 20.0))
        conv.value = min(max(conv.value, conv.lo), conv.hi)

    def _step_stock(self, stock: _Stock, now: datetime, dt: float) -> None:
        if stock.refill_at is not None and now >= stock.refill_at:
            # The operator spliced a new reel (or refilled the hopper).
            stock.value, stock.refill_at = stock.hi, None
            return
        if stock.machine.producing:
            stock.value = max(stock.value - (stock.hi - stock.lo) / self.params.stock_duration_s * dt, stock.lo)
        if stock.refill_at is None and stock.value <= stock.low_mark:
            stock.refill_at = now + timedelta(seconds=self._rng.uniform(*self.params.refill_delay_s))

    def _step_process(self, proc: _Process, now: datetime, dt: float) -> None:
        if proc.excursion_until is not None and now >= proc.excursion_until:
            proc.excursion_target, proc.excursion_until = None, None
        elif proc.excursion_until is None and proc.targets and self._chance(self.params.excursion_mtbf_s, dt):
            proc.excursion_target = self._rng.choice(proc.targets)
            proc.excursion_until = now + timedelta(seconds=self._rng.uniform(*self.params.excursion_duration_s))
        target = proc.setpoint if proc.excursion_target is None else proc.excursion_target
        # Ornstein-Uhlenbeck: pulled towards the target with time constant tau, stationary spread sigma.
        theta = 1.0 / (10.0 if proc.excursion_target is None else 4.0)
        noise = proc.sigma * math.sqrt(2 * theta * dt) * self._rng.gauss(0.0, 1.0)
        proc.value = min(max(proc.value + theta * (target - proc.value) * dt + noise, proc.lo), proc.hi)

    def _step_sensor_failures(self, now: datetime, dt: float) -> None:
        for name, until in list(self._failed.items()):
            if now >= until:
                del self._failed[name]
        if self._chance(self.params.sensor_failure_mtbf_s, dt):
            candidates = [
                n
                for n, proc in self._processes.items()
                if n in self._served and n not in self._failed and proc.tag.data_type == "float"
            ]
            if candidates:
                duration = self._rng.uniform(*self.params.sensor_failure_duration_s)
                self._failed[self._rng.choice(candidates)] = now + timedelta(seconds=duration)

    # ------------------------------------------------------------------------------------------------- PackML

    def _begin(self, m: MachineState, plan: Plan, now: datetime) -> None:
        """Start a sequence of (state, seconds) phases; None as seconds means stay."""
        m.plan = plan
        m.phase_until = now
        self._advance(m, now)

    def _advance(self, m: MachineState, now: datetime) -> None:
        # Each phase starts exactly when the previous one ends, so the sequence does not depend on the step size.
        while m.phase_until is not None and now >= m.phase_until and m.plan:
            start = m.phase_until
            m.phase, duration = m.plan.popleft()
            m.phase_until = None if duration is None else start + timedelta(seconds=duration)
            if m.phase in ("Unholding", "Clearing", "Stopping"):
                m.fault = ""
            if m.phase == EXECUTE:
                m.down_since = None
            elif m.down_since is None:
                m.down_since = start

    def _fault(self, m: MachineState, kind: str, now: datetime, duration_s: float) -> None:
        if kind == "Aborted":
            plan = [
                ("Aborting", 1.0),
                ("Aborted", duration_s),
                ("Clearing", 3.0),
                ("Stopped", 4.0),
                ("Resetting", 3.0),
                ("Idle", 2.0),
                ("Starting", 4.0),
                (EXECUTE, None),
            ]
        elif kind == "Held":
            plan = [("Holding", 1.0), ("Held", duration_s), ("Unholding", 2.0), (EXECUTE, None)]
        else:
            raise ValueError(f"unknown fault kind {kind!r}; use Held or Aborted")
        self._begin(m, _plan(plan), now)
        m.fault = kind

    def _update_suspension(self, lm: _LineModel, now: datetime) -> None:
        machines = lm.machines
        for i, m in enumerate(machines):
            m.reported, m.cause = m.phase, ("fault" if m.fault else "")
            if m.phase != EXECUTE:
                continue
            for j, other in enumerate(machines):
                if j == i or other.phase == EXECUTE or other.down_since is None:
                    continue
                # The buffer between two machines takes buffer_s per machine in between to run empty or full.
                if (now - other.down_since).total_seconds() >= self.params.buffer_s * abs(i - j):
                    m.reported, m.cause = SUSPENDED, ("starved" if j < i else "blocked")
                    break

    # ------------------------------------------------------------------------------------------------- output

    def _refresh_outputs(self) -> dict[str, Sample]:
        changed: dict[str, Sample] = {}
        for name, sample in self._current():
            if name not in self._served:
                continue
            old = self._out.get(name)
            status = self._forced.get(name) or (SENSOR_FAILURE if name in self._failed else None)
            if status is not None:
                # A failed sensor keeps reporting its last value with a bad status, as many field devices do.
                sample = Sample(old.value if old is not None else sample.value, status)
            if old != sample:
                changed[name] = sample
                self._out[name] = sample
        return changed

    def _current(self) -> Iterable[tuple[str, Sample]]:
        for name, owner in self._states.items():
            yield name, Sample(owner.state if isinstance(owner, _LineModel) else owner.reported)
        for name, rate in self._rates.items():
            yield name, Sample(_typed(rate.tag, rate.value))
        for name, counter in self._counters.items():
            yield name, Sample(int(counter.count))
        for name, stock in self._stocks.items():
            yield name, Sample(_typed(stock.tag, stock.value))
        for name, proc in self._processes.items():
            yield name, Sample(_typed(proc.tag, proc.value))
        for name, (m, kind) in self._faults.items():
            # A jam holds the machine; any fault (held or aborted) sets a generic fault flag.
            yield name, Sample(m.fault == "Held" if kind == "Jam" else m.fault != "")
        for name, value in self._constants.items():
            yield name, Sample(value)
        for name, conv in self._conveyor_tags.items():
            if conv.level is not None and name == conv.level.name:
                yield name, Sample(_typed(conv.level, conv.value))
            else:
                yield name, Sample(conv.word())
        for name, written in self._written.items():
            yield name, Sample(written.value)


class LoadModel:
    """Filler values for load tests: `count` doubles doing a bounded random walk, changed round-robin."""

    def __init__(self, count: int, rng: random.Random) -> None:
        """Start every value at a random point between 0 and 100."""
        self._rng = rng
        self.values = [round(rng.uniform(0.0, 100.0), 3) for _ in range(count)]
        self._next = 0

    def next_changes(self, n: int) -> list[tuple[int, float]]:
        """Change the next `n` values in round-robin order; return (index, new value) pairs."""
        count = len(self.values)
        if count == 0:
            return []
        out: list[tuple[int, float]] = []
        rnd, values, i = self._rng.random, self.values, self._next
        for _ in range(n):
            v = values[i] + rnd() - 0.5
            v = 100.0 - (v - 100.0) if v > 100.0 else (-v if v < 0.0 else v)
            values[i] = v
            out.append((i, v))
            i = i + 1 if i + 1 < count else 0
        self._next = i
        return out


def _plan(phases: list[tuple[str, float | None]]) -> Plan:
    return deque(phases)


def _middle(rng: tuple[float, float]) -> float:
    return (rng[0] + rng[1]) / 2


def _limit(tag: Tag, kind: str) -> float | None:
    return next((a.limit for a in tag.alarms if a.type == kind), None)


def _named(tags: Iterable[Tag], leaf: str, data_type: str) -> str | None:
    return next((t.name for t in tags if t.name.rsplit(".", 1)[-1] == leaf and t.data_type == data_type), None)


def _outside_normal(proc: _Process) -> bool:
    nr = proc.tag.normal_range
    return nr is not None and not nr[0] <= proc.value <= nr[1]


def _typed(tag: Tag, value: float) -> Value:
    if tag.data_type == "int":
        return round(value)
    # Two decimals look like a real instrument and keep every change visible on screen.
    return round(value, 2)

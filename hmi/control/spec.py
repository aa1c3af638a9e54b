"""What the plant file says may be written and commanded: write rules on tags, commands and modes on machines
and lines. Validated by `hmi check`; enforced by the control services, never by the screen alone."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hmi.access.roles import Role
from hmi.control.interlock import Interlock

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=120)]
Scalar = bool | int | float | str
ReasonRule = Literal["none", "optional", "required"]
# Who may write when the plant file does not say: the people who run and maintain the line. Managers and the
# administrator watch and administer; they do not move the process.
DEFAULT_WRITE_ROLES: tuple[Role, ...] = (Role.LEAD, Role.ENGINEER)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InterlockSpec(_Model):
    """A condition that must hold before a write or command is sent, with the text shown when it does not."""

    when: str = Field(description="e.g. Line1.State != 'Execute' and Line1.Filler.GuardClosed")
    message: str = Field("", max_length=200, description="shown to the operator when the condition is not met")

    @field_validator("when")
    @classmethod
    def _parses(cls, value: str) -> str:
        Interlock.parse(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: object) -> object:
        # `interlock: "Line1.Guard"` is the short form of `interlock: {when: "Line1.Guard"}`.
        return {"when": value} if isinstance(value, str) else value

    @property
    def condition(self) -> Interlock:
        """The parsed condition."""
        return Interlock.parse(self.when)


class _Guarded(_Model):
    """What writes and commands share: who, how it is confirmed and signed, why, and when it is allowed."""

    roles: tuple[Role, ...] = Field(DEFAULT_WRITE_ROLES, min_length=1, description="roles that may do it")
    confirm: bool = Field(True, description="ask the person to confirm before anything is sent")
    signature: bool = Field(False, description="require an electronic signature (21 CFR 11.200)")
    reason: ReasonRule = Field("optional", description="whether the person must give a reason")
    interlock: InterlockSpec | None = None


class WriteSpec(_Guarded):
    """A tag the HMI may write (a setpoint): limits default to the tag's eng_range."""

    min: float | None = None
    max: float | None = None
    step: float | None = Field(None, gt=0, description="values must lie on this grid from min (or 0)")
    readback_timeout_s: float = Field(5.0, gt=0, le=120, description="wait this long for the server to confirm")
    affects: str = Field("", max_length=200, description="what the change affects, shown in the confirm dialog")

    @model_validator(mode="after")
    def _ordered(self) -> WriteSpec:
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"write min ({self.min:g}) must be below max ({self.max:g})")
        return self


class MethodArg(_Model):
    """One input argument of an OPC UA method: a fixed value, or entered by the person when `value` is absent."""

    name: Name
    data_type: Literal["float", "int", "bool", "string"] = "float"
    value: Scalar | None = None


class MethodCall(_Model):
    """An OPC UA Call (IEC 62541-4 §5.11.2): the object and method node ids on one endpoint."""

    endpoint: Name
    object_id: str
    method_id: str
    args: tuple[MethodArg, ...] = ()


class TagAction(_Model):
    """A command that writes a value to a tag, optionally as a pulse: the value, then `reset` after `pulse_s`."""

    tag: Name
    value: Scalar
    pulse_s: float | None = Field(None, gt=0, le=60)
    reset: Scalar | None = None

    @model_validator(mode="after")
    def _pulse(self) -> TagAction:
        if (self.pulse_s is None) != (self.reset is None):
            raise ValueError("a pulse needs both pulse_s and reset (the value written after pulse_s seconds)")
        return self


class Command(_Guarded):
    """A command offered on a machine's or line's faceplate: an OPC UA method call or a tag write."""

    name: Name
    label: str = Field("", max_length=60, description="the button text; default the name")
    call: MethodCall | None = None
    write: TagAction | None = None
    modes: tuple[Scalar, ...] = Field((), description="offered only while the mode tag holds one of these")
    affects: str = Field("", max_length=200)

    @model_validator(mode="after")
    def _one_action(self) -> Command:
        if (self.call is None) == (self.write is None):
            raise ValueError("a command has exactly one of call (an OPC UA method) or write (a tag value)")
        return self

    @property
    def title(self) -> str:
        """What the button says."""
        return self.label or self.name


class ModeSpec(_Model):
    """The tag saying who is in charge (auto/manual, local/remote): commands list the modes they need."""

    tag: Name
    labels: dict[str, str] = Field(default_factory=dict, description="value -> word shown, e.g. {'1': Auto}")

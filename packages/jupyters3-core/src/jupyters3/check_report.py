"""The result of ``jupyters3 check``: steps, their rendering, and the pure verdicts.

Everything here is free of I/O so it can be unit-tested: :class:`Report`
collects one :class:`Step` per check and renders them as text lines or JSON,
with every known secret replaced by ``****`` (a second guard: no step puts a
secret in its text to begin with); :func:`conditional_write_verdict` decides
what a conditional PUT's outcome says about the store.

A step of a mount (``c.JupyterS3.mounts``) carries the mount's name: its
line starts with ``mount 'team':``, its JSON has ``"mount": "team"``, and
the mounts' steps follow the main bucket's, one mount after the other.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Literal

from jupyters3 import errors

__all__ = [
    "STEP_TITLES",
    "Report",
    "Status",
    "Step",
    "conditional_write_verdict",
    "mask_key_id",
    "needs_permission",
]

#: ``ok``: works; ``WARN``: works, with a caveat; ``FAIL``: JupyterS3 will not
#: work; ``skip``: not tried because an earlier step failed.
Status = Literal["ok", "WARN", "FAIL", "skip"]

#: Step name -> the label printed in front of it, in the order steps are shown.
STEP_TITLES: dict[str, str] = {
    "configuration": "configuration",
    "contents-manager": "contents manager",
    "credentials": "credentials",
    "bucket": "bucket",
    "checkpoints": "checkpoints",
    "write": "write",
    "copy": "copy",
    "read": "read",
    "conditional-writes": "conditional writes",
    "delete": "delete",
    "kernel-folders": "kernel folders",
}

_REDACTED = "****"


@dataclass(frozen=True)
class Step:
    """One check's outcome.

    ``detail`` says what was found; ``fix`` (for ``FAIL`` and ``WARN``) is one
    sentence saying what to change; ``mount`` names the mount the step tried
    (``None``: the main bucket).
    """

    name: str
    status: Status
    detail: str
    fix: str = ""
    mount: str | None = None

    @property
    def title(self) -> str:
        """The label shown in front of the step."""
        return STEP_TITLES.get(self.name, self.name)

    def line(self) -> str:
        """``status  title  detail: fix`` on one line."""
        message = f"{self.detail}: {self.fix}" if self.detail and self.fix else self.detail
        message = message or self.fix
        if self.mount is not None:
            message = f"mount {self.mount!r}: {message}"
        width = max(len(t) for t in STEP_TITLES.values())
        return f"{self.status:<4}  {self.title:<{width}}  {message}".rstrip()


@dataclass
class Report:
    """The steps of one run, in :data:`STEP_TITLES` order when rendered (the
    main bucket's, then each mount's, in the order the mounts were first recorded).

    ``secrets`` holds strings that must never be printed (the secret access
    key, a session token); :meth:`text` and :meth:`json` replace them.
    """

    steps: list[Step] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)

    def add(
        self, name: str, status: Status, detail: str, fix: str = "", *, mount: str | None = None
    ) -> Step:
        """Record a step (a later one with the same name and mount replaces it)."""
        step = Step(name, status, detail, fix, mount)
        self.steps = [s for s in self.steps if (s.name, s.mount) != (name, mount)] + [step]
        return step

    def status_of(self, name: str, mount: str | None = None) -> Status | None:
        """The status of step ``name`` (of ``mount``), or ``None`` if it was not recorded."""
        found = (s.status for s in self.steps if (s.name, s.mount) == (name, mount))
        return next(found, None)

    def ordered(self) -> list[Step]:
        """The steps in display order: the main bucket's, then each mount's
        (unknown names last within each, as recorded)."""
        order = {name: i for i, name in enumerate(STEP_TITLES)}
        mounts: dict[str | None, int] = {None: 0}
        for step in self.steps:
            mounts.setdefault(step.mount, len(mounts))
        return sorted(self.steps, key=lambda s: (mounts[s.mount], order.get(s.name, len(order))))

    @property
    def failed(self) -> bool:
        """Whether a step FAILed."""
        return any(s.status == "FAIL" for s in self.steps)

    @property
    def exit_code(self) -> int:
        """0 when nothing FAILed, else 1."""
        return 1 if self.failed else 0

    def redact(self, text: str) -> str:
        """``text`` with every known secret replaced by ``****``."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 4:
                text = text.replace(secret, _REDACTED)
        return text

    def text(self, header: str = "") -> str:
        """The human-readable report: an optional header, one line per step, a verdict."""
        lines = [header] if header else []
        lines += [step.line() for step in self.ordered()]
        counts = {s: sum(1 for x in self.steps if x.status == s) for s in ("FAIL", "WARN")}
        if self.failed:
            lines.append(f"jupyters3 check: {counts['FAIL']} step(s) failed.")
        elif counts["WARN"]:
            lines.append(f"jupyters3 check: works, with {counts['WARN']} warning(s).")
        else:
            lines.append("jupyters3 check: everything works.")
        return self.redact("\n".join(lines))

    def json(self, **extra: object) -> str:
        """The machine-readable report: ``ok``, ``exit_code``, ``steps`` and ``extra``.

        A mount's step has ``"mount": NAME``; the main bucket's have no ``mount``."""
        steps = []
        for step in self.ordered():
            fields = {**asdict(step), "title": step.title}
            if step.mount is None:
                del fields["mount"]
            steps.append(fields)
        document = {"ok": not self.failed, "exit_code": self.exit_code, **extra, "steps": steps}
        return self.redact(json.dumps(document, indent=2))


def mask_key_id(key_id: str) -> str:
    """An access key id shown at most as ``AKIA****WXYZ`` (``****`` when short)."""
    if len(key_id) < 12:
        return _REDACTED
    return f"{key_id[:4]}{_REDACTED}{key_id[-4:]}"


def needs_permission(actions: Iterable[str], bucket: str, prefix: str) -> str:
    """``grant s3:A and s3:B on arn:aws:s3:::bucket/prefix*`` (the policy line to add)."""
    names = [f"s3:{a}" for a in actions]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"grant {listed} on arn:aws:s3:::{bucket}/{prefix}*"


def conditional_write_verdict(
    outcome: BaseException | None, mode: str = "auto"
) -> tuple[Status, str, str]:
    """What a ``PUT`` with ``If-None-Match: *`` onto an existing key says about the store.

    ``outcome`` is the error that PUT raised, or ``None`` when it succeeded;
    ``mode`` is ``c.JupyterS3.conditional_writes`` (``auto``, ``on``, ``off``).
    Returns ``(status, detail, fix)``:

    * 412 PreconditionFailed: supported, ``ok``;
    * success: the store ignores the condition, ``WARN`` (``ok`` when ``off``);
    * 501, or a 400 / NotImplemented refusal: unsupported, ``WARN`` (``ok``
      when ``off``, ``FAIL`` when ``on``: every conditional save would fail);
    * anything else: ``FAIL`` with the error.
    """
    off = "c.JupyterS3.conditional_writes = 'off'"
    if isinstance(outcome, errors.PreconditionFailed):
        detail = "supported (If-None-Match: * on an existing key answered 412)"
        if mode == "off":
            detail += f"; not used, since {off}"
        return "ok", detail, ""
    if outcome is None:
        detail = "the store ignores If-None-Match (it overwrote an existing key)"
        if mode == "off":
            return "ok", f"{detail}; not used, since {off}", ""
        return (
            "WARN",
            detail,
            "saves from two servers could overwrite each other; set "
            f"{off} to silence this, or use a store that supports conditional writes.",
        )
    if isinstance(outcome, errors.S3Error) and _unsupported(outcome):
        detail = f"the store does not support If-None-Match ({outcome.code})"
        if mode == "off":
            return "ok", f"{detail}; not used, since {off}", ""
        if mode == "on":
            return (
                "FAIL",
                detail,
                f"with c.JupyterS3.conditional_writes = 'on' every save would fail; set {off} "
                "or 'auto', or use a store that supports conditional writes.",
            )
        return (
            "WARN",
            detail,
            "JupyterS3 ('auto') stops sending them at the first refusal, so saves from two "
            f"servers could overwrite each other; set {off} to silence this, or use a store "
            "that supports conditional writes.",
        )
    message = outcome.message if isinstance(outcome, errors.S3Error) else str(outcome)
    code = outcome.code if isinstance(outcome, errors.S3Error) else type(outcome).__name__
    return (
        "FAIL",
        f"a conditional PUT failed ({code}: {message})",
        "check that the credentials may write to the prefix and that the store is healthy.",
    )


def _unsupported(error: errors.S3Error) -> bool:
    """Whether S3 refused the conditional PUT as a feature it lacks."""
    if error.code == "NotImplemented" or error.status == 501:
        return True
    return isinstance(error, errors.InvalidRequest) and error.status == 400

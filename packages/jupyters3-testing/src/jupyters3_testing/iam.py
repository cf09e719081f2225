"""A pure IAM policy evaluator for identity and session policies: the tests' oracle.

It decides as AWS's policy evaluation logic does for one principal's own
policies (no resource-based policies, SCPs or permission boundaries):

* an explicit ``Deny`` in any policy wins over every ``Allow``;
* otherwise a matching ``Allow`` allows; nothing matching is an implicit deny;
* a session (``AssumeRole`` with ``Policy``/``PolicyArns``) is allowed only
  what the role's policies *and* the session policies both allow
  (:func:`evaluate_session`).

A statement matches when its ``Action``/``NotAction``, its
``Resource``/``NotResource`` and every condition match. Actions match
case-insensitively, resources case-sensitively, both with ``*`` and ``?``
wildcards. Conditions: the ``String*``, ``Numeric*``, ``Bool``, ``Null`` and
``Arn*`` operators, ``...IfExists``, ``ForAnyValue:``/``ForAllValues:``;
several values of one key are ORed, several keys and operators ANDed. A key
absent from the request matches no positive operator, every negated one
(``StringNotEquals``, ``StringNotLike``...) and every ``...IfExists``. Policy
variables (``${aws:PrincipalTag/team}``, ``${s3:prefix}``...) are replaced in
resources and string condition values by the request's value (and then match
literally); a variable the request lacks makes that resource or value match
nothing. ``${*}``, ``${?}`` and ``${$}`` are the literal characters. Only
policies of ``Version`` ``2012-10-17`` have variables.

A policy that is not such a document raises :class:`MalformedPolicy`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AuthRequest",
    "Decision",
    "MalformedPolicy",
    "evaluate",
    "evaluate_session",
    "parse_policy",
    "wildcard_match",
]

Decision = Literal["Allow", "ExplicitDeny", "ImplicitDeny"]

#: A condition key's value in a request: one string, or several (multivalued keys).
ContextValue = str | Sequence[str]


class MalformedPolicy(ValueError):
    """The document is not a valid IAM policy (what STS calls MalformedPolicyDocument)."""


@dataclass(frozen=True)
class AuthRequest:
    """One authorization: an action on a resource, with its condition keys.

    ``context`` names are matched case-insensitively (``s3:prefix``,
    ``aws:PrincipalTag/jupyters3-user``...).
    """

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)

    def value(self, key: str) -> ContextValue | None:
        """The request's value of condition key ``key`` (None when absent)."""
        lowered = key.lower()
        for name, value in self.context.items():
            if name.lower() == lowered:
                return value
        return None


def parse_policy(document: str | Mapping[str, Any]) -> dict[str, Any]:
    """A policy document (JSON text or a mapping), checked; :class:`MalformedPolicy` if not."""
    if isinstance(document, str):
        try:
            policy = json.loads(document)
        except ValueError as exc:
            raise MalformedPolicy(f"not JSON: {exc}") from None
    else:
        policy = dict(document)
    if not isinstance(policy, dict) or "Statement" not in policy:
        raise MalformedPolicy("a policy is an object with a Statement")
    statements = policy["Statement"]
    for statement in statements if isinstance(statements, list) else [statements]:
        _check_statement(statement)
    return policy


def evaluate(policies: Sequence[str | Mapping[str, Any]], request: AuthRequest) -> Decision:
    """The decision of ``policies`` (one principal's) on ``request``."""
    allowed = False
    for document in policies:
        policy = parse_policy(document)
        variables = policy.get("Version") == "2012-10-17"
        statements = policy["Statement"]
        for statement in statements if isinstance(statements, list) else [statements]:
            if not _matches(statement, request, variables):
                continue
            if statement["Effect"] == "Deny":
                return "ExplicitDeny"
            allowed = True
    return "Allow" if allowed else "ImplicitDeny"


def evaluate_session(
    identity_policies: Sequence[str | Mapping[str, Any]],
    session_policies: Sequence[str | Mapping[str, Any]] | None,
    request: AuthRequest,
) -> Decision:
    """A role session's decision: the role's policies intersected with the session's.

    ``session_policies`` None: the session was made without a session policy
    (the role's policies alone decide). Given (even empty), the request must
    also be allowed by one of them.
    """
    identity = evaluate(identity_policies, request)
    session: Decision = "Allow" if session_policies is None else evaluate(session_policies, request)
    if "ExplicitDeny" in (identity, session):
        return "ExplicitDeny"
    if identity == "Allow" and session == "Allow":
        return "Allow"
    return "ImplicitDeny"


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's ``*`` (any run of characters, ``/`` included) and ``?`` (one character)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.S | (re.I if ignore_case else 0)) is not None


# -- statements -----------------------------------------------------------------------

_ELEMENTS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}


def _check_statement(statement: Any) -> None:
    if not isinstance(statement, dict):
        raise MalformedPolicy("a statement is an object")
    unknown = set(statement) - _ELEMENTS
    if unknown:
        raise MalformedPolicy(f"statement elements {sorted(unknown)} are not allowed here")
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise MalformedPolicy("Effect must be Allow or Deny")
    if ("Action" in statement) == ("NotAction" in statement):
        raise MalformedPolicy("a statement has Action or NotAction, not both or neither")
    if ("Resource" in statement) == ("NotResource" in statement):
        raise MalformedPolicy("a statement has Resource or NotResource, not both or neither")
    for name in ("Action", "NotAction", "Resource", "NotResource"):
        if name in statement and not _strings(statement[name]):
            raise MalformedPolicy(f"{name} must be a string or a list of strings")
    condition = statement.get("Condition", {})
    if not isinstance(condition, dict) or not all(
        isinstance(block, dict) for block in condition.values()
    ):
        raise MalformedPolicy("Condition maps operators to {key: values}")
    for operator in condition:
        _operator(operator)


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _matches(statement: Mapping[str, Any], request: AuthRequest, variables: bool) -> bool:
    if "Action" in statement:
        if not _any_action(statement["Action"], request.action):
            return False
    elif _any_action(statement["NotAction"], request.action):
        return False
    if "Resource" in statement:
        if not _any_resource(statement["Resource"], request, variables):
            return False
    elif _any_resource(statement["NotResource"], request, variables):
        return False
    return all(
        _condition(operator, block, request, variables)
        for operator, block in statement.get("Condition", {}).items()
    )


def _any_action(patterns: str | list[str], action: str) -> bool:
    return any(wildcard_match(p, action, ignore_case=True) for p in _strings(patterns) or [])


def _any_resource(patterns: str | list[str], request: AuthRequest, variables: bool) -> bool:
    for pattern in _strings(patterns) or []:
        regex = _pattern(pattern, request, variables, wildcards=True)
        if regex is not None and re.fullmatch(regex, request.resource, re.S):
            return True
    return False


_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_LITERALS = {"*": "*", "?": "?", "$": "$"}


def _pattern(text: str, request: AuthRequest, variables: bool, *, wildcards: bool) -> str | None:
    """A regex for ``text``: variables replaced (literally), ``*``/``?`` as wildcards
    when ``wildcards``; None when a variable is absent from the request."""
    out: list[str] = []
    position = 0
    for found in _VARIABLE.finditer(text) if variables else ():
        out.append(_literal_or_wild(text[position : found.start()], wildcards))
        name = found.group(1).strip()
        if name in _LITERALS:
            out.append(re.escape(_LITERALS[name]))
        else:
            value = request.value(name)
            if not isinstance(value, str):
                return None  # absent (or multivalued): matches nothing
            out.append(re.escape(value))
        position = found.end()
    out.append(_literal_or_wild(text[position:], wildcards))
    return "".join(out)


def _literal_or_wild(text: str, wildcards: bool) -> str:
    if not wildcards:
        return re.escape(text)
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)


# -- conditions -----------------------------------------------------------------------

_NEGATED = {
    "StringNotEquals",
    "StringNotEqualsIgnoreCase",
    "StringNotLike",
    "NumericNotEquals",
    "ArnNotEquals",
    "ArnNotLike",
}
_BASE = _NEGATED | {
    "StringEquals",
    "StringEqualsIgnoreCase",
    "StringLike",
    "NumericEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "Bool",
    "Null",
    "ArnEquals",
    "ArnLike",
}


def _operator(name: str) -> tuple[str, str, bool]:
    """``(set_operator, base, if_exists)`` of a condition operator's name."""
    qualifier, _, base = name.rpartition(":")
    if qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise MalformedPolicy(f"unknown condition qualifier {qualifier!r}")
    if_exists = base.endswith("IfExists") and base != "IfExists"
    base = base.removesuffix("IfExists") if if_exists else base
    if base not in _BASE or (base == "Null" and if_exists):
        raise MalformedPolicy(f"unknown condition operator {name!r}")
    return qualifier, base, if_exists


def _condition(
    operator: str, block: Mapping[str, Any], request: AuthRequest, variables: bool
) -> bool:
    qualifier, base, if_exists = _operator(operator)
    for key, wanted in block.items():
        values = [wanted] if isinstance(wanted, (str, bool, int, float)) else list(wanted)
        wanted_text = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
        if not _one_key(qualifier, base, if_exists, key, wanted_text, request, variables):
            return False
    return True


def _one_key(
    qualifier: str,
    base: str,
    if_exists: bool,
    key: str,
    wanted: list[str],
    request: AuthRequest,
    variables: bool,
) -> bool:
    present = request.value(key)
    if base == "Null":
        absent = present is None or (not isinstance(present, str) and len(present) == 0)
        return any((w.lower() == "true") == absent for w in wanted)
    if present is None:
        if qualifier == "ForAllValues":
            return True
        return if_exists or (base in _NEGATED and qualifier == "")
    actual = [present] if isinstance(present, str) else list(present)
    negated = base in _NEGATED
    positive = base.replace("Not", "", 1) if negated else base

    def hit(value: str) -> bool:
        return any(_compare(positive, w, value, request, variables) for w in wanted)

    if qualifier == "ForAllValues":
        return all(hit(v) != negated for v in actual)
    if qualifier == "ForAnyValue":
        return any(hit(v) != negated for v in actual)
    if negated:
        return not any(hit(v) for v in actual)
    return any(hit(v) for v in actual)


def _compare(base: str, wanted: str, actual: str, request: AuthRequest, variables: bool) -> bool:
    if base in ("StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike"):
        wildcards = base in ("StringLike", "ArnLike")
        regex = _pattern(wanted, request, variables, wildcards=wildcards)
        if regex is None:
            return False
        flags = re.S | (re.I if base == "StringEqualsIgnoreCase" else 0)
        return re.fullmatch(regex, actual, flags) is not None
    if base == "Bool":
        return wanted.lower() == actual.lower()
    try:
        left, right = float(actual), float(wanted)
    except ValueError:
        return False
    return {
        "NumericEquals": left == right,
        "NumericLessThan": left < right,
        "NumericLessThanEquals": left <= right,
        "NumericGreaterThan": left > right,
        "NumericGreaterThanEquals": left >= right,
    }[base]

"""The READMEs agree with the code, so that the documentation cannot drift.

* README.md's configuration reference is what ``docs/config_reference.py``
  generates from the traits, and every setting has a help text;
* its IAM policy is valid JSON and grants exactly the actions of the S3
  operations the client sends (a table here, itself checked against the
  client's source);
* every error message its Troubleshooting section quotes is one the source
  tree can produce;
* its links, hatch commands and Jupyter setting names exist.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from jupyters3 import keys

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
PACKAGE_READMES = sorted(ROOT.glob("packages/*/README.md"))
CLIENT = ROOT / "packages/jupyters3-core/src/jupyters3/s3/client.py"
#: Where the server and `jupyters3 check` call the client from.
CALLERS = [
    path
    for pattern in (
        "packages/jupyters3-core/src/**/*.py",
        "packages/jupyters3-auth-ec2/src/**/*.py",
    )
    for path in ROOT.glob(pattern)
    if path != CLIENT
]
#: A wildcard: a variable part of a message (source) or an elided one (README).
WILD = "\u2026"


@cache
def generator() -> ModuleType:
    """``docs/config_reference.py``, loaded by path (``docs/`` is not a package)."""
    path = ROOT / "docs" / "config_reference.py"
    spec = importlib.util.spec_from_file_location("jupyters3_docs_config_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def readme() -> str:
    return README.read_text(encoding="utf-8")


def section(text: str, title: str) -> str:
    """The body of the ``## title`` section of ``text``."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


# ============================================================================
# The configuration reference
# ============================================================================


def test_the_configuration_reference_is_generated_from_the_code() -> None:
    """README.md holds exactly what the generator prints: a setting added,
    renamed or re-documented in the code fails here until the README is redone."""
    gen = generator()
    assert gen.current_block(readme()) == gen.render(), (
        "README.md's configuration reference is stale: run "
        "`hatch run test:python docs/config_reference.py --write`"
    )


def test_the_generator_covers_jupyters3_and_every_authentication_class() -> None:
    """JupyterS3 and every authentication class of both packages are documented."""
    from jupyters3 import JupyterS3Authentication

    documented = {cls.__name__ for cls in generator().documented_classes()}
    assert {
        "JupyterS3",
        "JupyterS3DefaultAuthentication",
        "JupyterS3SecretAccessKeyAuthentication",
        "JupyterS3ECSRoleAuthentication",
        "JupyterS3EC2RoleAuthentication",
        "JupyterS3RefreshingAuthentication",
    } <= documented
    ours = {
        cls.__name__
        for cls in generator()._subclasses(JupyterS3Authentication)
        if generator().ours(cls) and generator().own_config_traits(cls)
    }
    assert ours <= documented


def test_every_setting_has_help() -> None:
    """A setting without a help text (or with only a default) fails."""
    gen = generator()
    missing = [
        f"{cls.__name__}.{row.name}"
        for cls in gen.documented_classes()
        for row in gen.settings(cls)
        if len(row.help) < 10
    ]
    assert not missing, f"settings without help: {missing}"


def test_computed_defaults_say_where_they_come_from() -> None:
    """A default computed by an ``@default`` method is described by a
    ``Default: ...`` sentence in the help text, which becomes the default column."""
    gen = generator()
    undescribed = [
        f"{cls.__name__}.{name}"
        for cls in gen.documented_classes()
        for name, trait in gen.own_config_traits(cls).items()
        if gen.has_computed_default(cls, name) and "Default: " not in str(trait.help)
    ]
    assert not undescribed, f"add a 'Default: ...' sentence to the help of {undescribed}"


def test_the_generator_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Without options it prints the block; ``--check`` passes on this README."""
    gen = generator()
    assert gen.main([]) == 0
    assert capsys.readouterr().out.strip() == gen.render().strip()
    assert gen.main(["--check"]) == 0


def test_replace_block_keeps_the_rest_of_the_file() -> None:
    gen = generator()
    text = f"before\n{gen.START}\nold\n{gen.END}\nafter\n"
    assert gen.replace_block(text, "new") == f"before\n{gen.START}\nnew\n{gen.END}\nafter\n"


# ============================================================================
# The IAM policy
# ============================================================================

#: S3 operation, as S3Client names it -> the IAM actions it needs. ``None``: the
#: client can send it, but neither the server nor `jupyters3 check` ever does.
IAM_ACTIONS: dict[str, frozenset[str] | None] = {
    "ListObjectsV2": frozenset({"s3:ListBucket"}),
    # With a version id (checkpoints on a versioned bucket): s3:GetObjectVersion.
    "HeadObject": frozenset({"s3:GetObject", "s3:GetObjectVersion"}),
    "GetObject": frozenset({"s3:GetObject"}),
    "PutObject": frozenset({"s3:PutObject"}),
    "CopyObject": frozenset({"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"}),
    "DeleteObject": frozenset({"s3:DeleteObject"}),
    "DeleteObjects": frozenset({"s3:DeleteObject"}),
    "CreateMultipartUpload": frozenset({"s3:PutObject"}),
    "UploadPart": frozenset({"s3:PutObject"}),
    "UploadPartCopy": frozenset({"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"}),
    "GetBucketVersioning": frozenset({"s3:GetBucketVersioning"}),
    "ListObjectVersions": frozenset({"s3:ListBucketVersions"}),
    "DeleteObjectVersions": frozenset({"s3:DeleteObjectVersion"}),
    "CompleteMultipartUpload": frozenset({"s3:PutObject"}),
    "AbortMultipartUpload": frozenset({"s3:AbortMultipartUpload"}),
    "ListMultipartUploads": frozenset({"s3:ListBucketMultipartUploads"}),
    "HeadBucket": None,  # s3:ListBucket: tests only
    "CreateBucket": None,  # s3:CreateBucket: tests and the demo only
}
#: Actions on the bucket's ARN; the others are on object ARNs.
BUCKET_ACTIONS = frozenset(
    {
        "s3:ListBucket",
        "s3:ListBucketMultipartUploads",
        "s3:GetBucketVersioning",
        "s3:ListBucketVersions",
    }
)


def client_methods() -> dict[str, set[str]]:
    """S3Client method -> the operations it sends, itself or through other methods."""
    tree = ast.parse(CLIENT.read_text(encoding="utf-8"))
    client = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "S3Client")
    sends: dict[str, set[str]] = {}
    calls: dict[str, set[str]] = {}
    for fn in client.body:
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        sends[fn.name], calls[fn.name] = set(), set()
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id == "Request":
                first = node.args[0]
                assert isinstance(first, ast.Constant), "Request() names its operation"
                sends[fn.name].add(first.value)
            elif isinstance(func, ast.Attribute) and getattr(func.value, "id", "") == "self":
                calls[fn.name].add(func.attr)
    changed = True
    while changed:
        changed = False
        for name, callees in calls.items():
            for callee in callees & sends.keys():
                if not sends[callee] <= sends[name]:
                    sends[name] |= sends[callee]
                    changed = True
    return sends


def operations_in_client_source() -> set[str]:
    """Every operation name given to ``Request(...)`` anywhere in client.py."""
    return set(re.findall(r"\bRequest\(\s*\"(\w+)\"", CLIENT.read_text(encoding="utf-8")))


def called_outside_client(method: str) -> bool:
    """Whether the server or `jupyters3 check` calls ``S3Client.<method>``."""
    pattern = re.compile(rf"\.{method}\(")
    return any(pattern.search(path.read_text(encoding="utf-8")) for path in CALLERS)


def test_the_operation_table_is_the_client_s_operations() -> None:
    """Every operation of the table is one the client sends, and every one the
    client sends is in the table: a new S3 call must say what permission it needs."""
    assert operations_in_client_source() == set(IAM_ACTIONS)
    assert set().union(*client_methods().values()) == set(IAM_ACTIONS)


@pytest.mark.parametrize("operation", sorted(IAM_ACTIONS))
def test_the_table_says_which_operations_the_server_sends(operation: str) -> None:
    """An operation with actions is sent by the server or `jupyters3 check`;
    one marked ``None`` is not (if it starts to be, the policy must grant it)."""
    methods = [m for m, ops in client_methods().items() if operation in ops]
    used = any(called_outside_client(m) for m in methods if not m.startswith("_"))
    assert used == (IAM_ACTIONS[operation] is not None), (operation, methods)


def policy() -> dict[str, Any]:
    body = section(readme(), "A least-privilege IAM policy")
    match = re.search(r"```json\n(.*?)```", body, re.S)
    assert match, "the IAM section has no ```json block"
    document = json.loads(match.group(1))
    assert isinstance(document, dict)
    return document


def statements() -> Iterator[tuple[set[str], list[str], dict[str, Any]]]:
    """``(actions, resources, condition)`` of each statement."""
    for statement in policy()["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        resources = statement["Resource"]
        yield (
            {actions} if isinstance(actions, str) else set(actions),
            [resources] if isinstance(resources, str) else list(resources),
            statement.get("Condition", {}),
        )


def bucket_and_prefix() -> tuple[str, str]:
    """The policy's bucket and key prefix, from its object ARN."""
    arns = {r for _, resources, _ in statements() for r in resources if "/" in r}
    assert len(arns) == 1, arns
    match = re.fullmatch(r"arn:aws:s3:::([^/]+)/(.*)\*", arns.pop())
    assert match, "the object resource is arn:aws:s3:::<bucket>/<prefix>*"
    return match.group(1), match.group(2)


def test_the_policy_is_valid_json_with_a_version() -> None:
    assert policy()["Version"] == "2012-10-17"


def test_the_policy_grants_exactly_what_the_client_needs() -> None:
    needed = set().union(*(a for a in IAM_ACTIONS.values() if a is not None))
    granted = set().union(*(actions for actions, _, _ in statements()))
    assert granted == needed, f"missing {needed - granted}, not needed {granted - needed}"


def test_each_action_is_granted_on_the_right_resource() -> None:
    bucket, prefix = bucket_and_prefix()
    assert prefix, "the documented policy is the one for a prefix"
    for actions, resources, _ in statements():
        for action in actions:
            expected = (
                f"arn:aws:s3:::{bucket}"
                if action in BUCKET_ACTIONS
                else f"arn:aws:s3:::{bucket}/{prefix}*"
            )
            assert resources == [expected], action


def test_listing_is_limited_to_the_prefix_and_covers_every_listing() -> None:
    """The s3:prefix condition allows every prefix JupyterS3 lists, and no other."""
    _, prefix = bucket_and_prefix()
    conditions = [c for actions, _, c in statements() if "s3:ListBucket" in actions]
    assert len(conditions) == 1
    patterns = conditions[0]["StringLike"]["s3:prefix"]
    keymap = keys.KeyMap(prefix)
    listed = [
        keymap.dir_prefix(""),
        keymap.dir_prefix("a b/c"),
        keymap.checkpoint_prefix("n.ipynb"),
    ]
    for listed_prefix in listed:
        assert any(fnmatch.fnmatchcase(listed_prefix, p) for p in patterns), listed_prefix
    for outside in ("", "users/", "users/bob/", prefix.rstrip("/") + "-other/"):
        assert not any(fnmatch.fnmatchcase(outside, p) for p in patterns), outside


def test_the_object_resource_covers_every_key_jupyters3_writes() -> None:
    _, prefix = bucket_and_prefix()
    keymap = keys.KeyMap(prefix)
    written = [
        keymap.file_key("a b/n.ipynb"),
        keymap.dir_marker("a b"),
        keymap.checkpoint_key("a b/n.ipynb", "20261126T103645123456-ab12cd"),
        f"{keymap.prefix}.jupyters3-check-0123abcd-copy",  # jupyters3 check
    ]
    for key in written:
        assert key is not None and fnmatch.fnmatchcase(key, f"{prefix}*"), key


def test_the_readme_says_what_each_action_is_for() -> None:
    """The table under the policy names, for each action, every operation needing it."""
    body = section(readme(), "A least-privilege IAM policy")
    rows = dict(re.findall(r"^\| `(s3:\w+)` \| (.*) \|$", body, re.M))
    for operation, actions in IAM_ACTIONS.items():
        for action in actions or ():
            assert action in rows, f"no row for {action}"
            assert re.search(rf"\b{operation}\b", rows[action]), (action, operation)


# ============================================================================
# Troubleshooting: quoted messages exist in the source tree
# ============================================================================

_PRINTF = re.compile(r"%[-#0 +]*\d*(?:\.\d+)?[sdrfgx]")


def _strings(node: ast.AST) -> list[str]:
    """The texts a string expression can take, variable parts as WILD."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [_PRINTF.sub(WILD, node.value)]
    if isinstance(node, ast.JoinedStr):
        parts = [
            _PRINTF.sub(WILD, v.value) if isinstance(v, ast.Constant) else WILD for v in node.values
        ]
        return ["".join(parts)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [a + b for a in _strings(node.left) for b in _strings(node.right)][:16]
    if isinstance(node, ast.IfExp):
        return (_strings(node.body) + _strings(node.orelse))[:16]
    return [WILD]


@cache
def source_messages() -> tuple[str, ...]:
    """Every string the packages' sources can build, with at least 10 literal characters."""
    found: set[str] = set()
    parts_of_bigger = (ast.BinOp, ast.IfExp, ast.JoinedStr, ast.FormattedValue)
    for path in ROOT.glob("packages/*/src/**/*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        inner = {
            id(child)
            for node in ast.walk(tree)
            if isinstance(node, parts_of_bigger)
            for child in ast.iter_child_nodes(node)
        }
        for node in ast.walk(tree):
            if id(node) in inner:
                continue  # only whole expressions: "a" + x is not the message "a"
            if isinstance(node, (ast.Constant, ast.JoinedStr, ast.BinOp, ast.IfExp)):
                for text in _strings(node):
                    text = re.sub(f"{WILD}+", WILD, text)
                    if len(text.replace(WILD, "")) >= 10:
                        found.add(text)
    return tuple(sorted(found))


def is_instance(text: str, pattern: str) -> bool:
    """Whether ``text`` is the start of a message that ``pattern`` (WILD: any
    text) describes: example values stand where the code has variables, and
    the text may stop early, but not inside a variable part (which would
    accept anything after it), unless the message ends with that part."""
    # (position in text, position in pattern, last character matched literally)
    stack, seen = [(0, 0, True)], set()
    while stack:
        state = stack.pop()
        if state in seen:
            continue
        seen.add(state)
        i, j, literal = state
        if i == len(text) and (literal or j == len(pattern)):
            return True
        if j < len(pattern) and pattern[j] == WILD:
            stack.append((i, j + 1, literal))  # the variable part ends here
            if i < len(text):
                stack.append((i + 1, j, False))  # it goes on
        elif i < len(text) and j < len(pattern) and text[i] == pattern[j]:
            stack.append((i + 1, j + 1, True))
    return False


def quoted_messages() -> list[str]:
    """The messages Troubleshooting quotes: each list item that starts with code."""
    body = section(readme(), "Troubleshooting")
    return re.findall(r"^\* `([^`]+)`", body, re.M)


def source_of(quote: str) -> str | None:
    """A source string of which ``quote`` is an instance (see :func:`is_instance`)."""
    for message in source_messages():
        # A first cut: the quote holds the start of a long literal part.
        anchored = any(len(part) >= 10 and part[:10] in quote for part in message.split(WILD))
        if anchored and is_instance(quote, message):
            return message
    return None


def test_troubleshooting_quotes_many_messages() -> None:
    assert len(quoted_messages()) >= 25


@pytest.mark.parametrize("quote", quoted_messages())
def test_each_quoted_message_is_one_the_code_writes(quote: str) -> None:
    """Quotes use example values where the code has variables; the rest is verbatim."""
    assert source_of(quote) is not None, f"no message in packages/*/src matches {quote!r}"


def test_the_matcher_refuses_a_changed_message() -> None:
    assert source_of("Bucket 'b' does not exist at AWS region x: create it or fix it.") is None
    assert source_of("Bucket 'b' does not exist at AWS region x: create it or fix c.JupyterS3")
    assert source_of("Bucket 'b' does not exist at AWS region x") is None  # ends in a variable
    assert source_of("Permission denied by S3: anything at all")  # the code's message ends so


# ============================================================================
# Links, commands and setting names
# ============================================================================


def _outside_code(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def anchors(text: str) -> set[str]:
    """GitHub's anchors for the headings of ``text``."""
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} (.+)$", _outside_code(text), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
    return {slug if n == 0 else f"{slug}-{n}" for slug, total in seen.items() for n in range(total)}


@pytest.mark.parametrize("path", [README, *PACKAGE_READMES], ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve(path: Path) -> None:
    """Every ``(#anchor)`` is a heading, every relative link an existing file."""
    text = path.read_text(encoding="utf-8")
    prose = _outside_code(text)
    missing = [a for a in re.findall(r"\]\(#([^)]+)\)", prose) if a not in anchors(text)]
    assert not missing, f"no such heading: {missing}"
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", prose):
        if not re.match(r"[a-z]+:", target):
            assert (path.parent / target).exists(), f"{path.name} links to missing {target}"


def test_the_quick_start_commands_are_unchanged() -> None:
    body = section(readme(), "Quick start")
    assert "python3 -m pip install --quiet hatch && hatch run demo:lab\n" in body
    assert "python3 -m pip install --quiet hatch && hatch run test:all\n" in body


def test_hatch_commands_exist() -> None:
    """Every ``hatch run env:script`` of the READMEs is a script of hatch.toml."""
    tomllib = pytest.importorskip("tomllib")
    envs = tomllib.loads((ROOT / "hatch.toml").read_text(encoding="utf-8"))["envs"]
    commands = {
        command
        for path in [README, *PACKAGE_READMES]
        for command in re.findall(r"hatch run (\w+):(\w+)", path.read_text(encoding="utf-8"))
    }
    assert commands
    for env, script in commands:
        assert env in envs, f"hatch.toml has no env {env}"
        assert script in envs[env].get("scripts", {}) or script == "python", (env, script)


def test_jupyters3_check_is_the_command_documented() -> None:
    from jupyters3.check import parse_args

    pyproject = (ROOT / "packages/jupyters3-core/pyproject.toml").read_text(encoding="utf-8")
    assert 'jupyters3 = "jupyters3.check:main"' in pyproject
    args = parse_args(["check", "--config", "c.py", "--set", "JupyterS3.prefix=a/", "--json"])
    assert (args.command, args.config, args.json) == ("check", "c.py", True)


def test_jupyter_settings_named_in_the_readme_exist() -> None:
    """``ContentsManager.x`` and ``ServerApp.x`` are real traits, with the defaults quoted."""
    from jupyter_server.serverapp import ServerApp
    from jupyter_server.services.contents.manager import ContentsManager

    owners = {"ContentsManager": ContentsManager, "ServerApp": ServerApp}
    named = re.findall(r"\b(ContentsManager|ServerApp)\.(\w+)", readme())
    assert named
    for owner, name in named:
        assert name in owners[owner].class_trait_names(), f"{owner}.{name}"
    assert ServerApp.class_traits()["max_body_size"].default_value == 512 * 1024 * 1024
    for name in ("allow_hidden", "hide_globs", "untitled_notebook", "pre_save_hook"):
        assert name in ContentsManager.class_trait_names()

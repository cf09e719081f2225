"""The README and the documentation site agree with the code, so that neither can drift.

* the site's configuration reference (docs/reference/configuration.md) has an
  ``autoconfigurable`` for every configurable class of every package (the
  build then fails when a setting is missing: docs/reference_ext.py), every
  setting has a help text, and a computed default says where it comes from;
* the IAM policy of docs/operate/iam-policy.md is valid JSON and grants
  exactly the actions of the S3 operations the client sends (a table here,
  itself checked against the client's source);
* every error message that docs/operate/troubleshooting.md quotes is one the
  source tree can produce;
* the links and anchors, hatch commands and Jupyter setting names of the
  README, the packages' READMEs and the site's pages exist;
* every section of the README before the site has a home in the site, and the
  README stays a landing page.

``hatch run docs:build`` (part of ``hatch run test:all``) checks the rest:
every cross-reference, heading anchor and setting, with warnings as errors.
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
DOCS = ROOT / "docs"
#: The site's pages (Markdown sources; docs/_build is the built site).
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.relative_to(DOCS).parts)
PACKAGE_READMES = sorted(ROOT.glob("packages/*/README.md"))
OTHER_READMES = [ROOT / "bench" / "README.md", ROOT / "examples" / "README.md"]
#: Every Markdown file a reader of the repository or the site sees.
ALL_MARKDOWN = [README, *PACKAGE_READMES, *OTHER_READMES, *PAGES]
IAM_PAGE = DOCS / "operate" / "iam-policy.md"
TROUBLESHOOTING_PAGE = DOCS / "operate" / "troubleshooting.md"
REFERENCE_PAGE = DOCS / "reference" / "configuration.md"
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
#: A wildcard: a variable part of a message (source) or an elided one (docs).
WILD = "\u2026"


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@cache
def configurables() -> ModuleType:
    """``docs/configurables.py``, loaded by path (``docs/`` is not a package)."""
    path = DOCS / "configurables.py"
    spec = importlib.util.spec_from_file_location("jupyters3_docs_configurables", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def readme() -> str:
    return README.read_text(encoding="utf-8")


def section(text: str, title: str) -> str:
    """The body of the ``## title`` section of ``text``."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no '## {title}' section"
    return match.group(1)


# ============================================================================
# The configuration reference
# ============================================================================


def autoconfigurables() -> list[str]:
    """The classes the reference page documents, as its directives name them."""
    text = REFERENCE_PAGE.read_text(encoding="utf-8")
    return re.findall(r"^\.\. autoconfigurable:: (\S+)$", text, re.M)


def test_the_reference_documents_every_configurable_class() -> None:
    """A configurable class that any package adds (with settings of its own)
    fails here until the reference page has its ``autoconfigurable``."""
    gen = configurables()
    found = {gen.public_name(cls) for cls in gen.documented_classes()}
    named = autoconfigurables()
    assert len(named) == len(set(named)), "a class is documented twice"
    assert not found - set(named), f"add to {rel(REFERENCE_PAGE)}: {sorted(found - set(named))}"
    assert not set(named) - found, f"not configurable classes: {sorted(set(named) - found)}"


def test_each_class_has_a_heading_of_its_name() -> None:
    """``configuration.md#jupyters3`` and the like: the anchors of the old README."""
    text = REFERENCE_PAGE.read_text(encoding="utf-8")
    for name in autoconfigurables():
        assert f"\n## `{name.rsplit('.', 1)[1]}`\n" in text, name


def test_nothing_on_the_reference_page_is_hand_written() -> None:
    """Settings come from the directives only: no table, no attribute written out."""
    text = REFERENCE_PAGE.read_text(encoding="utf-8")
    assert not re.search(r"^\|", text, re.M), "a table on the reference page"
    assert not re.search(r"(py:attribute|\.\. attribute::|autotrait)", text)
    assert not re.search(r"^c\.JupyterS3", text, re.M)


def test_the_reference_covers_jupyters3_and_every_authentication_class() -> None:
    """JupyterS3 and every authentication class of every package are documented."""
    from jupyters3 import JupyterS3Authentication

    gen = configurables()
    documented = {cls.__name__ for cls in gen.documented_classes()}
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
        for cls in gen.subclasses(JupyterS3Authentication)
        if gen.ours(cls) and gen.own_config_traits(cls)
    }
    assert ours <= documented
    assert "jupyters3_testing" in gen.packages(), "every package under packages/ is looked at"


def test_every_setting_has_help() -> None:
    """A setting without a help text (or with only a default) fails."""
    gen = configurables()
    missing = [
        f"{cls.__name__}.{name}"
        for cls in gen.documented_classes()
        for name, trait in gen.own_config_traits(cls).items()
        if len(gen.split_default(str(trait.help or ""))[0]) < 10
    ]
    assert not missing, f"settings without help: {missing}"


def test_computed_defaults_say_where_they_come_from() -> None:
    """A default computed by an ``@default`` method is described by a
    ``Default: ...`` sentence in the help text, which the reference shows as
    the default."""
    gen = configurables()
    undescribed = [
        f"{cls.__name__}.{name}"
        for cls in gen.documented_classes()
        for name, trait in gen.own_config_traits(cls).items()
        if gen.has_computed_default(cls, name) and "Default: " not in str(trait.help)
    ]
    assert not undescribed, f"add a 'Default: ...' sentence to the help of {undescribed}"


def test_each_setting_is_shown_with_its_help_and_default() -> None:
    from jupyters3 import JupyterS3

    gen = configurables()
    traits = gen.own_config_traits(JupyterS3)
    region = gen.setting_lines(JupyterS3, "aws_region", traits["aws_region"])
    assert region[0] == "The bucket's AWS region."
    assert region[-1].startswith("Default: \\ ``AWS_REGION``\\ , ")
    size = gen.setting_lines(JupyterS3, "multipart_part_size", traits["multipart_part_size"])
    assert size[-1] == "Default: ``16777216`` (16 MiB)"
    assert gen.setting_lines(JupyterS3, "mounts", traits["mounts"])[-1] == "Default: ``{}``"
    auth = gen.setting_lines(JupyterS3, "authentication_class", traits["authentication_class"])
    assert auth[-1] == "Default: ``jupyters3.JupyterS3DefaultAuthentication``"
    assert gen.type_words(traits["addressing_style"]) == "'auto' | 'path' | 'virtual'"


def test_help_texts_become_safe_restructuredtext() -> None:
    """What reStructuredText would read as markup is escaped, or made a literal."""
    gen = configurables()
    assert gen.rst_text("If-None-Match: * and a|b") == "If-None-Match: \\* and a\\|b"
    assert gen.rst_text("see `x_y` here") == "see \\ ``x_y``\\  here"
    assert gen.rst_text("AWS_REGION=IPv6") == "\\ ``AWS_REGION``\\ =IPv6"
    assert gen.rst_text("(http://[fd00:ec2::254] with") == "(\\ ``http://[fd00:ec2::254]``\\  with"
    assert gen.split_default("Seconds. Default: A, else B. More.") == (
        "Seconds. More.",
        "A, else B",
    )
    assert gen.split_default("Seconds.") == ("Seconds.", None)


def test_the_configurables_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    """``python docs/configurables.py`` prints each class, then its settings."""
    gen = configurables()
    assert gen.main() == 0
    out = capsys.readouterr().out
    assert "jupyters3.JupyterS3\n    aws_region\n" in out
    assert "jupyters3_auth_ec2.JupyterS3EC2RoleAuthentication\n    role_name\n" in out


# ============================================================================
# The site's build
# ============================================================================


def hatch_envs() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib")
    envs: dict[str, Any] = tomllib.loads((ROOT / "hatch.toml").read_text(encoding="utf-8"))["envs"]
    return envs


def test_the_docs_env_installs_every_package() -> None:
    """Every configurable class can only be documented if its package is installed."""
    members = {
        m if isinstance(m, str) else m["path"] for m in hatch_envs()["docs"]["workspace"]["members"]
    }
    packages = {rel(p.parent) for p in ROOT.glob("packages/*/pyproject.toml")}
    assert members == packages
    rtd = (ROOT / ".readthedocs.yaml").read_text(encoding="utf-8")
    assert set(re.findall(r"path: (packages/\S+)", rtd)) == packages
    assert "fail_on_warning: true" in rtd and "requirements: docs/requirements.txt" in rtd


def test_read_the_docs_installs_what_the_docs_env_does() -> None:
    """docs/requirements.txt is the docs env's list, but for docs:serve's server."""
    deps = [d.split("#")[0].strip() for d in hatch_envs()["docs"]["dependencies"]]
    lines = (DOCS / "requirements.txt").read_text(encoding="utf-8").splitlines()
    required = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert set(required) == {d for d in deps if not d.startswith("sphinx-autobuild")}


def test_ci_builds_the_docs_with_warnings_as_errors() -> None:
    """`hatch run test:all` (what .ci/run runs) ends with the docs build, which
    fails on any warning and on any reference that does not resolve."""
    scripts = hatch_envs()
    assert "hatch run docs:build" in scripts["test"]["scripts"]["all"]
    build = scripts["docs"]["scripts"]["build"]
    assert all(flag in build.split() for flag in ("-W", "--keep-going", "-n")), build
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "hatch run test:all" in ci


def test_every_page_is_in_a_toctree() -> None:
    """A page no toctree lists is built but unreachable (Sphinx warns too)."""
    listed = set()
    for page in PAGES:
        for block in re.findall(
            r"```\{toctree\}\n(.*?)```", page.read_text(encoding="utf-8"), re.S
        ):
            for line in block.splitlines():
                if line.strip() and not line.startswith(":"):
                    listed.add((page.parent / f"{line.strip()}.md").resolve())
    orphans = [rel(p) for p in PAGES if p.name != "index.md" or p.parent != DOCS]
    orphans = [p for p in orphans if (ROOT / p).resolve() not in listed]
    assert not orphans, f"pages in no toctree: {orphans}"


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
    body = IAM_PAGE.read_text(encoding="utf-8")
    match = re.search(r"```json\n(.*?)```", body, re.S)
    assert match, "the IAM page has no ```json block"
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


def test_the_page_says_what_each_action_is_for() -> None:
    """The table under the policy names, for each action, every operation needing it."""
    body = IAM_PAGE.read_text(encoding="utf-8")
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
    body = TROUBLESHOOTING_PAGE.read_text(encoding="utf-8")
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

#: A link to the repository on GitHub: its path must exist.
GITHUB = re.compile(r"https://github\.com/jupyters3/jupyters3/(?:tree|blob)/main/([^)#\s`>]*)")


def _outside_code(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def expanded(path: Path) -> str:
    """``path``'s text with each ``{include}`` replaced by what it includes."""
    text = path.read_text(encoding="utf-8")

    def include(match: re.Match[str]) -> str:
        included = (path.parent / match.group(1)).resolve()
        body = included.read_text(encoding="utf-8")
        options = dict(re.findall(r"^:([\w-]+): (.*)$", match.group(2), re.M))
        if "start-after" in options:
            body = body.split(options["start-after"], 1)[1]
        if "end-before" in options:
            body = body.split(options["end-before"], 1)[0]
        if "start-line" in options:
            body = "\n".join(body.splitlines()[int(options["start-line"]) :])
        return body

    return re.sub(r"^```\{include\} (\S+)\n(.*?)^```$", include, text, flags=re.M | re.S)


def whole_include(page: Path) -> Path | None:
    """The file a page is made of, when the page is one ``{include}`` and nothing else."""
    match = re.fullmatch(r"```\{include\} (\S+)\n```\n", page.read_text(encoding="utf-8"))
    return (page.parent / match.group(1)).resolve() if match else None


def anchors(text: str) -> set[str]:
    """GitHub's anchors for the headings of ``text`` (MyST makes the same ones)."""
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} (.+)$", _outside_code(text), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
    return {slug if n == 0 else f"{slug}-{n}" for slug, total in seen.items() for n in range(total)}


@pytest.mark.parametrize("path", ALL_MARKDOWN, ids=rel)
def test_links_resolve(path: Path) -> None:
    """Every ``(#anchor)`` is a heading of the page, every relative link an
    existing file (and its ``#anchor``, if any, a heading of that page), every
    link into the repository on GitHub an existing path. (An included file's
    links are checked in that file.)"""
    prose = _outside_code(path.read_text(encoding="utf-8"))
    here = anchors(expanded(path))
    missing = [a for a in re.findall(r"\]\(#([^)]+)\)", prose) if a not in here]
    assert not missing, f"no such heading: {missing}"
    for target, anchor in re.findall(r"\]\(([^)#\s]+)(?:#([^)]*))?\)", prose):
        if re.match(r"[a-z]+:", target):
            continue
        linked = path.parent / target
        assert linked.exists(), f"{rel(path)} links to missing {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(expanded(linked)), f"{rel(path)}: no {target}#{anchor}"
    for target in GITHUB.findall(prose):
        assert (ROOT / target).exists(), f"{rel(path)} links to missing {target} on GitHub"


#: Each section of the README before the site (GitHub's anchor) -> its home now.
OLD_README_SECTIONS: dict[str, str] = {
    "contents": "docs/index.md#jupyters3",
    "why-jupyters3": "docs/get-started/why.md#why-jupyters3",
    "quick-start": "docs/get-started/demo.md#quick-start",
    "use-it-with-your-bucket": "docs/get-started/first-bucket.md#use-it-with-your-bucket",
    "authentication": "docs/configure/authentication.md#authentication",
    "the-default-chain": "docs/configure/authentication.md#the-default-chain",
    "each-way-in-short": "docs/configure/authentication.md#each-way-in-short",
    "your-own-class": "docs/configure/authentication.md#your-own-class",
    "s3-compatible-stores": "docs/configure/s3-compatible-stores.md#s3-compatible-stores",
    "jupyterhub-one-prefix-per-user": "docs/configure/jupyterhub.md#jupyterhub-one-prefix-per-user",
    "mounts-several-buckets-in-one-file-browser": (
        "docs/configure/mounts.md#mounts-several-buckets-in-one-file-browser"
    ),
    "a-least-privilege-iam-policy": "docs/operate/iam-policy.md#a-least-privilege-iam-policy",
    "several-servers-on-one-bucket-and-failures": (
        "docs/operate/several-servers.md#several-servers-on-one-bucket-and-failures"
    ),
    "versioned-buckets-checkpoints-without-copies": (
        "docs/configure/versioned-buckets.md#versioned-buckets-checkpoints-without-copies"
    ),
    "large-files-and-speed": "docs/operate/large-files.md#large-files-and-speed",
    "real-time-collaboration": (
        "docs/configure/real-time-collaboration.md#real-time-collaboration"
    ),
    "limits-that-come-from-s3": "docs/configure/limits.md#limits-that-come-from-s3",
    "troubleshooting": "docs/operate/troubleshooting.md#troubleshooting",
    "the-server-stops-at-start": "docs/operate/troubleshooting.md#the-server-stops-at-start",
    "an-error-in-jupyterlab": "docs/operate/troubleshooting.md#an-error-in-jupyterlab",
    "other-signs": "docs/operate/troubleshooting.md#other-signs",
    "configuration-reference": "docs/reference/configuration.md#configuration-reference",
    "jupyters3": "docs/reference/configuration.md#jupyters3",
    "jupyters3defaultauthentication": (
        "docs/reference/configuration.md#jupyters3defaultauthentication"
    ),
    "jupyters3secretaccesskeyauthentication": (
        "docs/reference/configuration.md#jupyters3secretaccesskeyauthentication"
    ),
    "jupyters3ecsroleauthentication": (
        "docs/reference/configuration.md#jupyters3ecsroleauthentication"
    ),
    "jupyters3ec2roleauthentication": (
        "docs/reference/configuration.md#jupyters3ec2roleauthentication"
    ),
    "jupyters3refreshingauthentication": (
        "docs/reference/configuration.md#jupyters3refreshingauthentication"
    ),
    "repository-layout": "docs/develop/layout.md#repository-layout",
    "developer-tasks": "docs/develop/tasks.md#developer-tasks",
    "the-contents-layer-in-brief": "docs/develop/contents-layer.md#the-contents-layer-in-brief",
    "the-s3-layer-in-brief": "docs/develop/s3-layer.md#the-s3-layer-in-brief",
}


@pytest.mark.parametrize("old", sorted(OLD_README_SECTIONS))
def test_every_old_readme_section_has_a_home(old: str) -> None:
    """Nothing the README held before the site was dropped: each of its
    sections (and their anchors) is a heading of a page now."""
    page, anchor = OLD_README_SECTIONS[old].split("#")
    assert anchor in anchors(expanded(ROOT / page)), OLD_README_SECTIONS[old]


def test_the_readme_is_a_landing_page() -> None:
    """Under 12 KB, and it leads into the site."""
    size = len(README.read_bytes())
    assert size < 12_000, f"README.md is {size} bytes: move the detail into docs/"
    linked = set(re.findall(r"\]\(([^)#:]+)", readme()))
    pages = [p for p in PAGES if p.parent.parent == DOCS and p.name != "index.md"]
    # A page that only includes a file (a package's README) is linked as that file.
    wanted = {rel(whole_include(p) or p) for p in pages}
    assert wanted <= linked, f"the README does not link {sorted(wanted - linked)}"


def test_the_quick_start_commands_are_unchanged() -> None:
    body = section(readme(), "Quick start")
    assert "python3 -m pip install --quiet hatch && hatch run demo:lab\n" in body
    assert "python3 -m pip install --quiet hatch && hatch run test:all\n" in body
    demo = expanded(DOCS / "get-started" / "demo.md")
    assert "python3 -m pip install --quiet hatch && hatch run demo:lab\n" in demo
    assert "python3 -m pip install --quiet hatch && hatch run test:all\n" in demo


def test_hatch_commands_exist() -> None:
    """Every ``hatch run env:script`` of the READMEs and pages is a script of hatch.toml."""
    envs = hatch_envs()
    commands = {
        command
        for path in ALL_MARKDOWN
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


def test_jupyter_settings_named_in_the_docs_exist() -> None:
    """``ContentsManager.x`` and ``ServerApp.x`` are real traits, with the defaults quoted."""
    from jupyter_server.serverapp import ServerApp
    from jupyter_server.services.contents.manager import ContentsManager

    owners = {"ContentsManager": ContentsManager, "ServerApp": ServerApp}
    named = [
        found
        for path in [README, *PAGES]
        for found in re.findall(r"\b(ContentsManager|ServerApp)\.(\w+)", path.read_text("utf-8"))
    ]
    assert named
    for owner, name in named:
        assert name in owners[owner].class_trait_names(), f"{owner}.{name}"
    assert ServerApp.class_traits()["max_body_size"].default_value == 512 * 1024 * 1024
    for name in ("allow_hidden", "hide_globs", "untitled_notebook", "pre_save_hook"):
        assert name in ContentsManager.class_trait_names()

"""The JAAS login configuration file (`java.security.auth.login.config`) that ZooKeeper's SASL reads.

What ZooKeeper's SASL needs: the section named by `zookeeper.sasl.serverconfig` (default `Server`),
its login module and its options: `user_NAME="password"` for DIGEST-MD5 (DigestLoginModule), or
`keyTab` and `principal` for GSSAPI (Krb5LoginModule: Kerberos, on the client port only). The grammar
is Java's ConfigFile: `Name { module.Class flag key=value ...; ... };` with `//`, `/* */` and `#` comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DIGEST_MODULE = "org.apache.zookeeper.server.auth.DigestLoginModule"
KRB5_MODULE = "com.sun.security.auth.module.Krb5LoginModule"
_TOKENS = re.compile(r'\s+|//[^\n]*|#[^\n]*|/\*.*?\*/|"(?:[^"\\]|\\.)*"|[{};=]|[^\s{};="]+', re.DOTALL)
FLAGS = ("required", "requisite", "sufficient", "optional")


class JaasError(ValueError):
    pass


@dataclass
class LoginModule:
    name: str
    flag: str
    options: dict[str, str] = field(default_factory=dict)


def _tokens(text: str) -> list[str]:
    out = []
    pos = 0
    while pos < len(text):
        m = _TOKENS.match(text, pos)
        if m is None:
            raise JaasError(f"unexpected character {text[pos]!r} at offset {pos}")
        tok = m.group()
        pos = m.end()
        if tok.isspace() or tok.startswith(("//", "#", "/*")):
            continue
        out.append(tok)
    return out


def parse(text: str) -> dict[str, list[LoginModule]]:
    toks = _tokens(text)
    sections: dict[str, list[LoginModule]] = {}
    i = 0

    def expect(what: str) -> None:
        nonlocal i
        if i >= len(toks) or toks[i] != what:
            got = toks[i] if i < len(toks) else "end of file"
            raise JaasError(f"expected {what!r}, found {got!r}")
        i += 1

    while i < len(toks):
        name = toks[i]
        if name in "{};=":
            raise JaasError(f"expected a section name, found {name!r}")
        i += 1
        expect("{")
        modules: list[LoginModule] = []
        while i < len(toks) and toks[i] != "}":
            module = toks[i]
            if i + 1 >= len(toks):
                raise JaasError(f"login module {module} has no control flag")
            flag = toks[i + 1].lower()
            if flag not in FLAGS:
                raise JaasError(f"login module {module}: control flag {toks[i + 1]!r} is not one of "
                                f"{', '.join(FLAGS)}")
            i += 2
            entry = LoginModule(module, flag)
            while i < len(toks) and toks[i] != ";":
                key = toks[i]
                if i + 2 >= len(toks) or toks[i + 1] != "=":
                    raise JaasError(f"login module {module}: option {key!r} has no value")
                value = toks[i + 2]
                if value.startswith('"'):
                    value = re.sub(r"\\(.)", r"\1", value[1:-1])
                entry.options[key] = value
                i += 3
            expect(";")
            modules.append(entry)
        expect("}")
        expect(";")
        sections.setdefault(name, []).extend(modules)
    return sections


def _read_sections(path: Path) -> dict[str, list[LoginModule]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise JaasError(f"cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise JaasError("not UTF-8 text") from None
    return parse(text)


def has_section(path: Path, section: str) -> bool:
    """Whether the file has `section`; a file that cannot be read or parsed raises JaasError."""
    return section in _read_sections(path)


def _digest_section(path: Path, section: str) -> list[LoginModule]:
    """The DigestLoginModule entries of `section`; JaasError names what is missing or unsupported."""
    sections = _read_sections(path)
    if section not in sections:
        raise JaasError(f"no {section!r} section (ZooKeeper: 'Could not find a '{section}' entry')")
    for module in sections[section]:
        if module.name != DIGEST_MODULE:
            kerberos = ("; Kerberos/GSSAPI is not implemented here, only for the client port's Server section"
                        if module.name == KRB5_MODULE else "")
            raise JaasError(f"section {section!r}: login module {module.name} is not supported (only "
                            f"{DIGEST_MODULE}, for DIGEST-MD5{kerberos})")
    return sections[section]


def kerberos_options(path: Path, section: str) -> dict[str, str] | None:
    """The options of the section's Krb5LoginModule, or None when it has none (DIGEST-MD5). As in
    ZooKeeper, a section that logs in with Kerberos makes the server speak GSSAPI only; another module
    beside it is refused, since corral cannot run it."""
    sections = _read_sections(path)
    modules = sections.get(section, [])
    krb5 = [m for m in modules if m.name == KRB5_MODULE]
    if not krb5:
        return None
    for module in modules:
        if module.name != KRB5_MODULE:
            raise JaasError(f"section {section!r}: login module {module.name} beside {KRB5_MODULE} is not "
                            "supported (with Kerberos the server speaks GSSAPI only)")
    return krb5[0].options


def digest_users(path: Path, section: str = "Server") -> dict[str, str]:
    """user -> password from the `section` of the JAAS file; JaasError names what is missing."""
    users: dict[str, str] = {}
    for module in _digest_section(path, section):
        for key, value in module.options.items():
            if key.startswith("user_"):
                users[key[len("user_"):]] = value
    return users


def digest_login(path: Path, section: str) -> tuple[str, str]:
    """(username, password) a DIGEST-MD5 client logs in with: the `username` and `password` options of
    the section's first DigestLoginModule (ZooKeeper's `Client` and `QuorumLearner` sections, as Java's
    SaslClientCallbackHandler reads them)."""
    for module in _digest_section(path, section):
        user, password = module.options.get("username"), module.options.get("password")
        if user is None or password is None:
            raise JaasError(f"section {section!r}: {module.name} needs username and password options")
        return user, password
    raise JaasError(f"section {section!r} has no login module")

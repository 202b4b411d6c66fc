"""ACL validation and checks (ZooKeeper's fixupACL, checkACL and the digest/ip providers).

The accept/reject tables were checked against the real providers of ZooKeeper 3.8.0 (Debian 12 jar:
`IPAuthenticationProvider.isValid`, `DigestAuthenticationProvider.isValid`/`generateDigest`,
`ProviderRegistry.getServerProvider`): an ACL corral accepts but ZooKeeper rejects makes a client's
setACL succeed here and fail with InvalidACL there.
"""

from __future__ import annotations

import pytest

from corral.protocol import Perms
from corral.protocol.records import ACL, Id
from corral.tree import acl as aclmod
from corral.tree.acl import AuthFailedError, InvalidACLError, NullIdError, authenticate, check_acl, digest, fixup_acl

USER1 = "user1:+owfoSBn/am19roBPzR1/MfCblE="


def test_digest_matches_zookeeper():
    """DigestAuthenticationProvider.generateDigest("user1:12345"), verified against ZooKeeper."""
    assert digest("user1:12345") == USER1
    # only the part before the first colon is the user; the rest (colons included) is hashed
    assert digest("a:b:c").startswith("a:")
    assert digest("a:b:c") != digest("a:b")


def test_authenticate_digest_and_super():
    assert authenticate("digest", b"user1:12345") == [("digest", USER1)]
    ids = authenticate("digest", b"user1:12345", super_digest=USER1)
    assert set(ids) == {("digest", USER1), ("super", "")}
    assert authenticate("digest", b"user1:12345", super_digest="admin:x") == [("digest", USER1)]


@pytest.mark.parametrize("scheme", ["world", "ip", "sasl", "auth", "", None])
def test_authenticate_unknown_scheme_fails(scheme):
    """addauth with a scheme that has no provider → AUTHFAILED (and ZooKeeper closes the connection);
    ip is a provider but is never accepted from addauth in corral."""
    with pytest.raises(AuthFailedError):
        authenticate(scheme, b"x")


# ---- id validation ---------------------------------------------------------------------------

@pytest.mark.parametrize("ident,valid", [
    ("a:b", True), (":b", True), ("a:b:", True),  # Java's split drops trailing empty strings
    ("a", False), ("a:", False), ("a:b:c", False), ("", False), (":", False),
])
def test_digest_id_validity_like_java(ident, valid):
    acl = [ACL(31, Id("digest", ident))]
    if valid:
        assert fixup_acl(acl, []) == ((31, "digest", ident),)
    else:
        with pytest.raises(InvalidACLError):
            fixup_acl(acl, [])


@pytest.mark.parametrize("ident,valid", [
    ("1.2.3.4", True), ("1.2.3.4/8", True), ("10.0.0.0/32", True), ("0.0.0.0/0", True),
    ("1.2.3.4/33", False), ("1.2.3.4/-1", False), ("1.2.3", False), ("256.1.1.1", False),
    ("host", False), ("", False), ("1.2.3.4/8/9", False), ("1.2.3.4/x", False),
])
def test_ip_id_validity_like_java(ident, valid):
    acl = [ACL(1, Id("ip", ident))]
    if valid:
        assert fixup_acl(acl, []) == ((1, "ip", ident),)
    else:
        with pytest.raises(InvalidACLError):
            fixup_acl(acl, [])


@pytest.mark.parametrize("ident", ["1.2.3.4/", "1.2.3.4/\u00b2"])
def test_ip_ids_java_rejects_are_invalid_acl(ident):
    """BUG (reported): ZooKeeper's isValid parses the bits after '/' with Integer.parseInt, so an empty
    mask ("1.2.3.4/") and a non-decimal digit such as '²' are invalid. corral accepts the first
    (partition() yields "" and it is treated as "no mask") and crashes on the second with a ValueError
    escaping fixup_acl (str.isdigit() is true for '²' but int() rejects it), which would escape
    Preparer.prepare as well."""
    with pytest.raises(InvalidACLError):
        fixup_acl([ACL(1, Id("ip", ident))], [])


@pytest.mark.parametrize("acl", [
    None, [], [ACL(31, Id("world", "nobody"))], [ACL(31, Id(None, "x"))], [ACL(31, Id("foo", None))],
    [ACL(31, Id("foo", "bar"))], [ACL(31, Id("super", ""))], [ACL(31, Id("sasl", "user"))],
    [ACL(31, Id("world", "anyone")), ACL(1, Id("digest", "nocolon"))],
])
def test_invalid_acl_lists(acl):
    """Empty/null lists, world ids other than anyone, unregistered schemes and malformed ids → InvalidACL;
    one bad entry spoils the whole list."""
    with pytest.raises(InvalidACLError):
        fixup_acl(acl, [("digest", USER1)])


@pytest.mark.parametrize("scheme", ["world", "digest", "ip"])
def test_null_id_is_marshalling_error(scheme):
    """ZooKeeper's fixupACL dereferences the id of world and of every registered scheme: a null id there
    is a NullPointerException, answered MarshallingError (an unregistered scheme is InvalidACL first)."""
    with pytest.raises(NullIdError):
        fixup_acl([ACL(31, Id(scheme, None))], [])


def test_duplicates_removed_order_kept():
    acl = [ACL(31, Id("world", "anyone")), ACL(1, Id("digest", "a:b")), ACL(31, Id("world", "anyone"))]
    assert fixup_acl(acl, []) == ((31, "world", "anyone"), (1, "digest", "a:b"))


def test_auth_scheme_expands_to_authenticated_ids_only():
    """`auth` becomes every authenticated id of the caller (digest), never ip; none → InvalidACL."""
    auth = [("ip", "127.0.0.1"), ("digest", USER1), ("digest", "u2:h")]
    assert fixup_acl([ACL(31, Id("auth", "ignored"))], auth) == ((31, "digest", USER1), (31, "digest", "u2:h"))
    with pytest.raises(InvalidACLError):
        fixup_acl([ACL(31, Id("auth", ""))], [("ip", "127.0.0.1")])
    with pytest.raises(InvalidACLError):
        fixup_acl([ACL(31, Id("auth", ""))], [])


def test_auth_scheme_does_not_copy_super_id():
    """BUG (reported): ZooKeeper has no provider for the `super` pseudo-scheme
    (ProviderRegistry.getServerProvider("super") is null, verified on 3.8.0), so fixupACL skips a
    super id when expanding `auth`; only the digest id is stored. corral lists "super" among the
    authenticated schemes and stores an extra (perms, "super", "") entry, visible in getACL."""
    auth = authenticate("digest", b"user1:12345", super_digest=USER1)
    assert fixup_acl([ACL(31, Id("auth", ""))], auth) == ((31, "digest", USER1),)


# ---- checks ----------------------------------------------------------------------------------

def test_check_acl_world_digest_ip_super():
    acl = ((Perms.READ, "world", "anyone"), (Perms.ALL, "digest", USER1), (Perms.WRITE, "ip", "10.0.0.0/8"))
    assert check_acl(acl, Perms.READ, [])
    assert not check_acl(acl, Perms.WRITE, [])
    assert check_acl(acl, Perms.WRITE, [("digest", USER1)])
    assert check_acl(acl, Perms.ADMIN, [("digest", USER1)])
    assert not check_acl(acl, Perms.ADMIN, [("digest", "user1:wrong")])
    assert check_acl(acl, Perms.WRITE, [("ip", "10.200.3.4")])
    assert not check_acl(acl, Perms.WRITE, [("ip", "11.0.0.1")])
    assert not check_acl(acl, Perms.DELETE, [("ip", "10.0.0.1")])
    assert check_acl(acl, Perms.DELETE, [("super", "")])
    # an identity of another scheme with the same id string does not match
    assert not check_acl(((Perms.ALL, "digest", "10.0.0.1"),), Perms.READ, [("ip", "10.0.0.1")])


def test_check_acl_empty_list_allows_everything():
    """ZooKeeper's checkACL: an empty ACL list means no restriction."""
    assert check_acl((), Perms.ADMIN, [])


def test_check_acl_ip_exact_and_garbage():
    assert check_acl(((1, "ip", "127.0.0.1"),), Perms.READ, [("ip", "127.0.0.1")])
    assert not check_acl(((1, "ip", "127.0.0.1"),), Perms.READ, [("ip", "127.0.0.2")])
    assert not check_acl(((1, "ip", "127.0.0.1"),), Perms.READ, [("ip", "not-an-ip")])


def test_interning_shares_equal_lists():
    a = aclmod.intern(((31, "digest", "x:y"),))
    b = aclmod.intern(tuple([(31, "digest", "x:y")]))
    assert a is b

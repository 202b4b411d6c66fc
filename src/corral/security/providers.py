"""ZooKeeper's authentication providers, by the Java class names `authProvider.N` gives.

Why a table: corral cannot load Java classes, so a provider it does not know would be an
authentication scheme silently missing; such a line is refused (`corral config check` names it).
"""

from __future__ import annotations

_PKG = "org.apache.zookeeper.server.auth."
PROVIDERS = {
    _PKG + "SASLAuthenticationProvider": "sasl",
    _PKG + "X509AuthenticationProvider": "x509",
    _PKG + "DigestAuthenticationProvider": "digest",
    _PKG + "IPAuthenticationProvider": "ip",
}


def provider_scheme(class_name: str) -> str:
    """The scheme of a provider class; ValueError for one corral does not implement."""
    scheme = PROVIDERS.get(class_name)
    if scheme is None:
        raise ValueError(f"authentication provider {class_name!r} is not available in corral (known: "
                         f"{', '.join(sorted(PROVIDERS))}); refusing to run without it")
    return scheme

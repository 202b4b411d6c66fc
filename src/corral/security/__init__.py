"""Client security: TLS contexts from Java-style key and trust stores, x509, SASL DIGEST-MD5 and SASL
GSSAPI (Kerberos, `sasl_gssapi`, with the optional `gssapi` binding) authentication, the
authentication providers ZooKeeper's `authProvider.N` names, and the audit log.

Nothing here knows about sockets or the event loop: the server wires it in (`corral.server`), and the
client uses the TLS context builder and the DIGEST-MD5 client. Between members, `quorum` builds
the same contexts from the `ssl.quorum.*` keys and `quorum_auth` runs quorum SASL (the peer transport,
`corral.server.peer_sockets` and the election and peer ports, wires them in).
"""

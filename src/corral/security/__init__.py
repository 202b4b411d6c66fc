"""Client security: TLS contexts from Java-style key and trust stores, x509 and SASL DIGEST-MD5
authentication, the authentication providers ZooKeeper's `authProvider.N` names, and the audit log.

Nothing here knows about sockets or the event loop: the server wires it in (`corral.server`), and the
client uses the TLS context builder and the DIGEST-MD5 client. The peer transport is meant to reuse
`tls.TlsSettings` / `tls.server_context` / `tls.client_context` for `sslQuorum` later.
"""

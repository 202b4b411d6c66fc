"""corral: a ZooKeeper-compatible coordination service."""

__version__ = "0.1.0"
#: The Apache ZooKeeper release whose wire protocol and semantics corral implements.
ZK_COMPAT_VERSION = "3.9.4"
#: What `srvr`, `stat`, `envi` and `mntr` report: monitoring tools parse the ZooKeeper part.
FULL_VERSION = f"{ZK_COMPAT_VERSION}-corral-{__version__}"

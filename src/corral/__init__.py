"""corral: a ZooKeeper-compatible coordination service."""

import os as _os

from . import _compiled

__version__ = "0.1.0"
#: The Apache ZooKeeper release whose wire protocol and semantics corral implements.
ZK_COMPAT_VERSION = "3.9.4"
#: What `srvr`, `stat`, `envi` and `mntr` report: monitoring tools parse the ZooKeeper part.
FULL_VERSION = f"{ZK_COMPAT_VERSION}-corral-{__version__}"

# Before any module of the compiled build is imported (see corral/_compiled.py for why all or nothing).
if _os.environ.get("CORRAL_PURE") == "1":
    _compiled.use_pure()
    BUILD_NOTE = "pure Python (CORRAL_PURE=1)"
elif _stale := _compiled.stale():
    _compiled.use_pure()
    BUILD_NOTE = f"pure Python: the compiled build is older than {_stale[0]}'s source (run `make compile`)"
else:
    BUILD_NOTE = ""

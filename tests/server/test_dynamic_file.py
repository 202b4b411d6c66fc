"""The files a configuration change writes, in Apache's shapes (checked against Apache's own files in
tests/ensemble/test_dynamic_config.py): the dynamic file, the rewritten zoo.cfg, the backup, and that
load() reads the result back as the same membership and version."""

from __future__ import annotations

from corral.server.config import load
from corral.server.dynamic_file import backup_static, dynamic_path, edit_static, write_dynamic
from corral.server.reconfig import Membership

STATIC = """# a comment ZooKeeper drops too
tickTime=500
initLimit=5
syncLimit=2
dataDir={data}
clientPort=2182
clientPortAddress=127.0.0.1
reconfigEnabled=true
server.1=127.0.0.1:2888:3888;127.0.0.1:2181
server.2=127.0.0.1:2889:3889;127.0.0.1:2182
server.10=127.0.0.1:2890:3890:observer;127.0.0.1:2183
"""


def test_rewritten_files_load_back_as_the_same_membership(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "myid").write_text("2\n")
    cfg_path = tmp_path / "zoo.cfg"
    cfg_path.write_text(STATIC.format(data=tmp_path / "data"))
    cfg = load(cfg_path, env={})
    backup_static(cfg_path)
    assert (tmp_path / "zoo.cfg.bak").read_text() == cfg_path.read_text()

    new = Membership(Membership.of_config(cfg).servers, 0x100000000)
    path = write_dynamic(cfg_path, new)
    assert path == dynamic_path(cfg_path, 0x100000000) == tmp_path / "zoo.cfg.dynamic.100000000"
    # Sorted as Java sorts the strings ("server.10=" before "server.1=": '0' < '='), no version line, no
    # trailing newline: Apache's shape.
    assert path.read_text() == ("server.10=127.0.0.1:2890:3890:observer;127.0.0.1:2183\n"
                                "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n"
                                "server.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182")
    edit_static(cfg_path, path, erase_client=True)
    assert cfg_path.read_text() == (f"tickTime=500\ninitLimit=5\nsyncLimit=2\ndataDir={tmp_path / 'data'}\n"
                                    f"reconfigEnabled=true\ndynamicConfigFile={path}\n")
    again = load(cfg_path, env={})
    assert again.membership() == new.text() and again.config_version == 0x100000000
    assert (again.my_id, again.client_port, again.client_port_address) == (2, 2182, "127.0.0.1")
    assert not list(tmp_path.glob("*.tmp"))

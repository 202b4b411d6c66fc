"""The znode tree, its watches and ACL rules: pure state, applied to by committed transactions."""

from .datatree import ApplyResult, DataTree, MultiOps, Node
from .watches import WatchManager, WatchTable

__all__ = ["ApplyResult", "DataTree", "MultiOps", "Node", "WatchManager", "WatchTable"]

"""Durability: the transaction log, snapshots, recovery, retention and inspection tools."""

from .purge import purge
from .recovery import Recovered, RecoveryError, recover
from .snapshot import SnapshotCorruptError, read_snapshot, write_snapshot
from .txnlog import LogCorruptError, TxnLogWriter, decode_txn_payload, encode_txn_payload

__all__ = ["LogCorruptError", "Recovered", "RecoveryError", "SnapshotCorruptError", "TxnLogWriter",
           "decode_txn_payload", "encode_txn_payload", "purge", "read_snapshot", "recover", "write_snapshot"]

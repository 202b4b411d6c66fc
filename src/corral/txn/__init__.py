"""Transactions: how a write request becomes a zxid-stamped change (`prepare`) and its bytes."""

from .codec import TXN_RECORDS, AnyTxn, decode_txn, encode_txn
from .prepare import ChangeRecord, KeeperError, Preparer

__all__ = ["TXN_RECORDS", "AnyTxn", "ChangeRecord", "KeeperError", "Preparer", "decode_txn", "encode_txn"]

"""Two fixes to moto's DynamoDB so the local stack keeps the guarantees the product relies on.

1. Real DynamoDB is linearizable per item; moto is not thread-safe (a failed transaction restores
   a deep copy of whole tables, silently undoing other threads' writes made meanwhile). One
   DynamoDB call at a time restores the semantics.
2. moto deep-copies every table a transaction touches, before every transaction, to be able to
   roll back: O(table size) per reservation. Under (1) a transaction can instead check all its
   conditions first and only then apply its writes, which cannot fail halfway; so no copy."""

from __future__ import annotations

import threading
import types
from typing import Any

_lock = threading.Lock()
_NO_COPY = types.SimpleNamespace(deepcopy=lambda value, *_: value)


def _key_of(backend: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    table = backend.get_table(op["TableName"])
    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = op["Item"][table.range_key_attr]
    return key


def _failed_conditions(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any]]:
    from moto.dynamodb.comparisons import get_filter_expression

    outcome: list[tuple[Any, Any, Any]] = []
    for item in transact_items:
        op_type, op = next(iter(item.items()))
        condition = op.get("ConditionExpression")
        current = backend.get_item(op["TableName"], _key_of(backend, op_type, op))
        passes = condition is None or get_filter_expression(
            condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        ).expr(current)
        outcome.append(
            (None, None, None) if passes else ("ConditionalCheckFailed", "The conditional request failed", None)
        )
    return outcome


def install() -> None:
    import moto.dynamodb.models as models
    from moto.dynamodb.exceptions import TransactionCanceledException
    from moto.dynamodb.responses import DynamoHandler

    call_action = DynamoHandler.call_action

    def serialized(self: Any) -> Any:
        with _lock:
            return call_action(self)

    transact = models.DynamoDBBackend.transact_write_items

    def transact_without_copies(self: Any, transact_items: list[dict[str, Any]]) -> None:
        outcome = _failed_conditions(self, transact_items)
        if any(code for code, _, _ in outcome):
            raise TransactionCanceledException(outcome)
        models.copy = _NO_COPY  # type: ignore[assignment]  # safe: every DynamoDB call runs under _lock
        try:
            transact(self, transact_items)
        finally:
            models.copy = __import__("copy")

    DynamoHandler.call_action = serialized  # type: ignore[method-assign]
    models.DynamoDBBackend.transact_write_items = transact_without_copies  # type: ignore[method-assign]

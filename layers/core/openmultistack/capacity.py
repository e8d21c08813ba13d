"""The capacity ledger: a provider's `slots` counter bounded by its `cap`, moved only together
with the instance that holds the slot, in one DynamoDB transaction. Concurrent requests therefore
can never push a provider past its cap, and releasing twice is harmless."""

from __future__ import annotations

import random
import time

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from openmultistack.domain import InstanceStatus
from openmultistack.errors import ConflictError
from openmultistack.models import InstanceModel, ProviderModel
from openmultistack.repository import shared_connection

_CONFLICT_RETRIES = 8


def _reasons(error: TransactWriteError) -> list[str | None]:
    return [r.code if r else None for r in (error.cancellation_reasons or [])]


def _transact(build) -> list[str | None]:  # type: ignore[no-untyped-def]
    """Run a transaction, retrying DynamoDB's TransactionConflict (contention, not a verdict);
    returns the cancellation reasons ([] on success)."""
    for attempt in range(_CONFLICT_RETRIES):
        try:
            with TransactWrite(connection=shared_connection()) as tx:
                build(tx)
            return []
        except TransactWriteError as error:
            reasons = _reasons(error)
            if "TransactionConflict" not in reasons or attempt == _CONFLICT_RETRIES - 1:
                if not reasons:
                    raise
                return reasons
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
    return []


def reserve(instance_id: str, provider: str) -> bool:
    """Take one slot on `provider` for the instance. False when the provider is full or disabled."""

    def build(tx: TransactWrite) -> None:
        tx.update(
            ProviderModel(provider),
            actions=[ProviderModel.slots.add(1)],
            condition=(ProviderModel.slots < ProviderModel.cap) & (ProviderModel.enabled == True),  # noqa: E712
        )
        tx.update(
            InstanceModel(instance_id),
            actions=[
                InstanceModel.slot.set(provider),
                InstanceModel.provider.set(provider),
                InstanceModel.status.set(InstanceStatus.LAUNCHING.value),
            ],
            condition=InstanceModel.slot.does_not_exist()
            & InstanceModel.status.is_in(InstanceStatus.PENDING.value, InstanceStatus.LAUNCHING.value),
        )

    reasons = _transact(build)
    if not reasons:
        return True
    if reasons[1] == "ConditionalCheckFailed":
        raise ConflictError(f"instance '{instance_id}' already holds a slot or is no longer launching")
    return False


def release(instance_id: str, slot: str | None = None) -> None:
    """Give back the instance's slot, if it holds one. Callers that know the slot pass it and
    save a read; a stale value is harmless (the transaction's condition checks it)."""
    provider = slot
    if provider is None:
        try:
            # (No projection: DynamoDB answers an empty item when a projected attribute is absent.)
            provider = InstanceModel.get(instance_id, consistent_read=True).slot
        except InstanceModel.DoesNotExist:
            return
    if not provider:
        return

    def build(tx: TransactWrite) -> None:
        tx.update(
            InstanceModel(instance_id),
            actions=[InstanceModel.slot.remove()],
            condition=InstanceModel.slot == provider,
        )
        tx.update(ProviderModel(provider), actions=[ProviderModel.slots.add(-1)])

    _transact(build)  # a failed condition means someone released it first: nothing to do

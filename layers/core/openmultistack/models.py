"""DynamoDB tables (pynamodb). Only repository.py and capacity.py use these; the rest of the code
sees domain objects.

Three tables rather than one: providers, requests and instances have different access patterns and
lifetimes (instances expire by TTL long after their request is listed), and separate tables keep
each index sparse and each IAM policy narrow. The indexes make every hot question a Query:
- instances of request R:                 Instances.by_request  (request_id, index)
- instances on provider P:                Instances.by_provider (provider, created_at)
- instances due for attention before T:   Instances.by_due      (sweep, due_at) — sparse: only live
  instances carry `sweep`, so the reaper's Query touches only work that may be due.
- requests by status / newest first:      Requests.by_status, Requests.by_created
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from openmultistack.settings import get_settings

SWEEP = "live"  # the only value of Instances.sweep; its presence is what matters


class _Meta:
    region = None
    billing_mode = "PAY_PER_REQUEST"


class FlavorMap(MapAttribute):
    name = UnicodeAttribute()
    vcpus = NumberAttribute()
    ram_mb = NumberAttribute()


class BreakerMap(MapAttribute):
    state = UnicodeAttribute(default="closed")
    failures = NumberAttribute(default=0)
    opened_at = UTCDateTimeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)


class AttemptMap(MapAttribute):
    provider = UnicodeAttribute()
    error_class = UnicodeAttribute()
    message = UnicodeAttribute()
    at = UTCDateTimeAttribute()


class ProviderModel(Model):
    class Meta(_Meta):
        table_name = get_settings().providers_table

    name = UnicodeAttribute(hash_key=True)
    auth_url = UnicodeAttribute()
    region_name = UnicodeAttribute(null=True)
    project_name = UnicodeAttribute(null=True)
    project_id = UnicodeAttribute(null=True)
    user_domain_name = UnicodeAttribute(null=True)
    project_domain_name = UnicodeAttribute(null=True)
    interface = UnicodeAttribute(default="public")
    auth_type = UnicodeAttribute(default="password")
    enabled = BooleanAttribute(default=True)
    max_instances = NumberAttribute(null=True)
    image_aliases: MapAttribute[str, str] = MapAttribute(default=dict)
    flavor_aliases: MapAttribute[str, str] = MapAttribute(default=dict)
    network = UnicodeAttribute(null=True)
    has_credentials = BooleanAttribute(default=False)
    nova_max_instances = NumberAttribute(null=True)
    flavors = ListAttribute(of=FlavorMap, default=list)
    images: ListAttribute[str] = ListAttribute(default=list)
    cap = NumberAttribute(default=0)
    slots = NumberAttribute(default=0)
    breaker = BreakerMap(default=BreakerMap)
    # server id -> first time the sweep saw it orphaned
    orphan_marks: MapAttribute[str, str] = MapAttribute(default=dict)
    # "slots:holders" as the reaper last saw them disagree; fixed only when the next run sees the
    # same (the holders Query reads an eventually consistent index).
    ledger_drift = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    checked_at = UTCDateTimeAttribute(null=True)
    boot_seconds = NumberAttribute(null=True)  # moving average of BUILD → ACTIVE here


class StatusIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class CreatedIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_created"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class RequestModel(Model):
    class Meta(_Meta):
        table_name = get_settings().requests_table

    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default="request")
    status = UnicodeAttribute()
    # (Model.count is pynamodb's item counter: the attribute keeps its name in DynamoDB only.)
    instance_count = NumberAttribute(attr_name="count")
    image = UnicodeAttribute()
    flavor = UnicodeAttribute(null=True)
    min_vcpus = NumberAttribute(null=True)
    min_ram_mb = NumberAttribute(null=True)
    lifetime_minutes = NumberAttribute()
    placement = UnicodeAttribute(default="spread")
    providers: ListAttribute[str] = ListAttribute(default=list)
    public_key = UnicodeAttribute(null=True)
    # user_data is the user's, not a secret of ours, but may be up to 64 KiB: kept off the
    # execution payload and read by Launch from here.
    user_data = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    execution_arn = UnicodeAttribute(null=True)
    counts: MapAttribute[str, int] = MapAttribute(default=dict)
    reason = UnicodeAttribute(null=True)
    ttl = TTLAttribute(null=True)

    by_status = StatusIndex()
    by_created = CreatedIndex()


class RequestIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_request"
        projection = AllProjection()

    request_id = UnicodeAttribute(hash_key=True)
    index = NumberAttribute(range_key=True)


class ProviderIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_provider"
        projection = AllProjection()

    provider = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class DueIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_due"
        projection = AllProjection()

    sweep = UnicodeAttribute(hash_key=True)
    due_at = UTCDateTimeAttribute(range_key=True)


class InstanceModel(Model):
    class Meta(_Meta):
        table_name = get_settings().instances_table

    id = UnicodeAttribute(hash_key=True)
    request_id = UnicodeAttribute()
    index = NumberAttribute()
    status = UnicodeAttribute()
    provider = UnicodeAttribute(null=True)
    planned_provider = UnicodeAttribute(null=True)
    slot = UnicodeAttribute(null=True)  # provider whose ledger slot this instance holds
    server_id = UnicodeAttribute(null=True)
    ip = UnicodeAttribute(null=True)
    flavor = UnicodeAttribute(null=True)
    image = UnicodeAttribute(null=True)
    attempts = ListAttribute(of=AttemptMap, default=list)
    created_at = UTCDateTimeAttribute()
    launched_at = UTCDateTimeAttribute(null=True)
    active_at = UTCDateTimeAttribute(null=True)
    expires_at = UTCDateTimeAttribute(null=True)
    lifetime_minutes = NumberAttribute(default=60)
    sweep = UnicodeAttribute(null=True)
    due_at = UTCDateTimeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    warned = BooleanAttribute(default=False)  # "expiring soon" event already sent
    ttl = TTLAttribute(null=True)

    by_request = RequestIndex()
    by_provider = ProviderIndex()
    by_due = DueIndex()


ALL_MODELS: tuple[type[Model], ...] = (ProviderModel, RequestModel, InstanceModel)

"""What a record keeps of its contact under each privacy mode (`sources.privacy`)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from sources.errors import ConfigError
from sources.hilos.spec import CONTACT_RUN as HILOS_CONTACT_RUN
from sources.privacy import Mode, Privacy
from sources.records import Quarantine, check_records
from sources.twilio_studio.spec import EXECUTION as TWILIO_EXECUTION
from sources.twilio_studio.spec import STEP as TWILIO_STEP

KEY = "k-3b9f"
RUN = {"id": "r1", "created_on": "2026-11-01T12:00:00Z", "status": "COMPLETED",
       "contact": {"id": "c1", "phone": "+5215512345678", "canonical_phone": "+5215512345678",
                   "first_name": "Ana", "last_name": "Ruiz", "email": "ana@example.com",
                   "meta": {"plan": "gold"}, "is_deleted": False},
       "flow": "f1", "unnamed_extra": 3}
EXECUTION = {"sid": "FN1", "date_created": "2026-11-01T12:00:00Z", "status": "ended",
             "contact_channel_address": "whatsapp:+14155550100", "contact_sid": "FX1",
             "context": {"flow": {"data": {"body": "my number is +14155550100"}}}}


def mac(value: str) -> str:
    return hmac.new(KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def test_hash_replaces_addresses_and_nulls_names_emails_meta() -> None:
    out = Privacy.from_settings("hash", KEY).scrub(RUN, HILOS_CONTACT_RUN)
    assert out == {**RUN, "contact": {"id": "c1", "phone": mac("+5215512345678"),
                                      "canonical_phone": mac("+5215512345678"),
                                      "first_name": None, "last_name": None, "email": None,
                                      "meta": None, "is_deleted": False}}
    assert RUN["contact"]["phone"] == "+5215512345678"  # the input is not changed


def test_hash_of_twilio_addresses_is_over_the_address_as_given() -> None:
    privacy = Privacy.from_settings("HASH", KEY)
    assert privacy.scrub(EXECUTION, TWILIO_EXECUTION) == {
        "sid": "FN1", "date_created": "2026-11-01T12:00:00Z", "status": "ended",
        "contact_channel_address": mac("whatsapp:+14155550100"), "contact_sid": "FX1",
        "context": None}
    step = {"sid": "FT1", "context": {"widgets": {"send": {"To": "+14155550100"}}}}
    assert privacy.scrub(step, TWILIO_STEP) == {"sid": "FT1", "context": None}


def test_the_same_address_hashes_the_same_and_a_hash_is_not_hashed_again() -> None:
    privacy = Privacy.from_settings("hash", KEY)
    once = privacy.address("+14155550100")
    assert once == mac("+14155550100") == Privacy.from_settings("hash", KEY).address(
        "+14155550100")
    assert privacy.address(once) == once
    assert Privacy.from_settings("hash", "other").address("+14155550100") != once


def test_drop_removes_addresses_and_keep_changes_nothing() -> None:
    dropped = Privacy.from_settings("drop", None).scrub(RUN, HILOS_CONTACT_RUN)
    assert dropped["contact"] == {"id": "c1", "phone": None, "canonical_phone": None,
                                  "first_name": None, "last_name": None, "email": None,
                                  "meta": None, "is_deleted": False}
    assert Privacy.from_settings(None, None).scrub(RUN, HILOS_CONTACT_RUN) is RUN
    assert Privacy.from_settings("keep", KEY).key == b""  # a key is held only for hash


@pytest.mark.parametrize("record,expected", [
    ({"id": "r1", "contact": "+5215512345678"}, {"id": "r1"}),  # not an object: removed
    ({"id": "r1", "contact": None}, {"id": "r1", "contact": None}),
    ({"id": "r1", "contact": {"phone": ["+5215512345678"]}}, {"id": "r1", "contact": {}}),
    ({"id": "r1"}, {"id": "r1"}),
    ("+5215512345678", None),
])
def test_odd_shapes_keep_nothing_that_could_be_an_address(record, expected) -> None:
    assert Privacy.from_settings("hash", KEY).scrub(record, HILOS_CONTACT_RUN) == expected


def test_check_records_scrubs_before_the_quarantine_sees_a_record() -> None:
    quarantine = Quarantine("Hilos", "flow_execution_contacts")
    bad_time = {**RUN, "created_on": "yesterday"}
    rows, bad = check_records([RUN, bad_time], quarantine, key="id", cursor="created_on",
                              scrub=Privacy.from_settings("hash", KEY).scrubber(HILOS_CONTACT_RUN))
    assert rows[0]["contact"]["phone"] == mac("+5215512345678")
    assert len(bad) == 1
    assert "+5215512345678" not in bad[0]["raw_record"]
    assert "Ana" not in bad[0]["raw_record"]
    assert mac("+5215512345678") in bad[0]["raw_record"]


def test_settings_errors_name_the_setting_and_never_the_key() -> None:
    with pytest.raises(ConfigError, match=r"privacy.hash_key is not set: set PRIVACY__HASH_KEY"):
        Privacy.from_settings("hash", None)
    with pytest.raises(ConfigError, match=r"must be keep, hash or drop, not 'hashed'"):
        Privacy.from_settings("hashed", KEY)
    privacy = Privacy.from_settings("hash", KEY)
    assert KEY not in repr(privacy)
    assert privacy.mode is Mode.HASH
    assert len(privacy.key_id) == 16 and privacy.key_id not in KEY


def test_a_flow_executions_contact_filters_are_not_stored() -> None:
    from sources.hilos.spec import EXECUTION as HILOS_EXECUTION

    batch = {"id": "b1", "created_on": "2026-11-01T12:00:00Z", "status": "RUNNING",
             "contact_filters": [{"field": "phone", "comparison": "exact",
                                  "value": "+5215512345678"}]}
    assert Privacy.from_settings("drop", None).scrub(batch, HILOS_EXECUTION) == {
        "id": "b1", "created_on": "2026-11-01T12:00:00Z", "status": "RUNNING",
        "contact_filters": None}
    assert Privacy.from_settings("keep", None).scrub(batch, HILOS_EXECUTION) is batch

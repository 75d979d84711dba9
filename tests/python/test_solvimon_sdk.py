"""The sandbox driven by Solvimon's own Python SDK (solvimon-python-sdk from PyPI): the SDK
sends its requests and parses the sandbox's answers with its own models.

Known SDK difference: it expects 200 from events/calculate, while the docs and spec say 201 (the
sandbox answers 201, research/apis.md A8), so the typed helper returns no data for it; the raw
answer is parsed with the SDK's own `MeterData` model instead.
"""

from datetime import datetime, timezone

import pytest
from solvimon_python_sdk import ApiClient, Configuration, IngestApi
from solvimon_python_sdk.exceptions import ApiException
from solvimon_python_sdk.models import (
    ApiError,
    MeterData,
    MeterDataCreateRequest,
    MeterDataMeterValueCreateRequest,
    PersistData,
    PersistDataCreateRequest,
)

from sandbox_process import Sandbox


@pytest.fixture(scope="module")
def api():
    sandbox = Sandbox()
    key = next(k for k, perms in sandbox.keys.items() if perms == ["METER_DATA.INGEST", "METER_DATA.VIEW"])
    client = ApiClient(Configuration(host=sandbox.url, api_key={"API-Key": key}))
    yield IngestApi(client)
    sandbox.close()


def persist_request(reference):
    return PersistDataCreateRequest(
        customer_id="cust_sandbox_0001", pricing_id="prc_1", pricing_item_id="prci_1",
        pricing_item_config_id="pric_1", pricing_plan_subscription_id="ppsu_1", reference=reference,
    )


def test_persist_data_is_created_and_parsed_by_the_sdk(api):
    created = api.post_ingest_persist_data(version="1", persist_data_create_request=persist_request("prs_sdk_0001"))
    assert isinstance(created, PersistData)
    assert created.object_type == "PERSIST_DATA"
    assert created.id.startswith("prsd_")
    assert created.reference == "prs_sdk_0001"
    assert created.pricing_plan_subscription_id == "ppsu_1"


def test_persist_data_validation_error_is_an_api_error(api):
    # The SDK's own pattern check is unanchored and lets `bad.ref` through; the API rejects it.
    with pytest.raises(ApiException) as caught:
        api.post_ingest_persist_data(version="1", persist_data_create_request=persist_request("bad.ref"))
    assert caught.value.status == 400
    assert isinstance(caught.value.data, ApiError)
    assert (caught.value.data.type, caught.value.data.code, caught.value.data.var_field) == ("INVALID_REQUEST", "INVALID_FIELD", "reference")


def test_persist_duplicate_reference_is_a_conflict(api):
    api.post_ingest_persist_data(version="1", persist_data_create_request=persist_request("prs_sdk_dup"))
    with pytest.raises(ApiException) as caught:
        api.post_ingest_persist_data(version="1", persist_data_create_request=persist_request("prs_sdk_dup"))
    assert caught.value.status == 409
    assert caught.value.data.code == "RESOURCE_ALREADY_EXISTS"


def calculate_request(reference, timestamp=None):
    return MeterDataCreateRequest(
        reference=reference, meter_reference="api_calls", customer_reference="cust-42", timestamp=timestamp,
        meter_values=[MeterDataMeterValueCreateRequest(reference="call_count", number="3")],
    )


def test_calculate_returns_a_cost_prediction_the_sdk_model_parses(api):
    response = api.post_events_calculate_with_http_info(
        version="1", cost_prediction=True,
        meter_data_create_request=calculate_request("evt_sdk_000001", datetime(2024, 7, 1, 8, 50, tzinfo=timezone.utc)),
    )
    assert response.status_code == 201
    event = MeterData.from_json(response.raw_data.decode())
    assert event.type == "CALCULATION" and event.reference == "evt_sdk_000001"
    assert event.cost_prediction.status == "READY"
    assert event.cost_prediction.details[0].amount_excluding_tax.quantity == "0.30"
    assert event.cost_prediction.details[0].amount_excluding_tax.currency == "EUR"
    assert event.processed_details.type == "DEFAULT"


def test_calculate_rejects_the_sdks_fractional_seconds_as_the_api_does(api):
    # The SDK serialises datetimes with isoformat(), microseconds included.
    with pytest.raises(ApiException) as caught:
        api.post_events_calculate(
            version="1",
            meter_data_create_request=calculate_request("evt_sdk_000002", datetime(2024, 7, 1, 8, 50, 0, 157000, tzinfo=timezone.utc)),
        )
    assert caught.value.status == 400
    assert isinstance(caught.value.data, ApiError)
    assert (caught.value.data.code, caught.value.data.var_field) == ("INVALID_FIELD", "timestamp")

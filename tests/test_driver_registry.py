"""Adding a protocol means a driver, its spec and vectors, a simulator and tests: every
registered driver must have all of them, and fit the brand the API knows it as."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from drivers.base import Transport
from drivers.brands import BRANDS
from drivers.registry import DRIVERS, simulator_module
from gateway.catalog import models_of_brand

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(DRIVERS))
def test_driver_has_spec_vectors_simulator_and_tests(name):
    driver = DRIVERS[name]
    specs = ROOT / "protocol_specs" / name
    assert (specs / "spec.md").is_file(), f"protocol_specs/{name}/spec.md is missing"
    assert list(specs.glob("*.json")), f"protocol_specs/{name}/ has no vectors"
    module = simulator_module(driver)
    assert (ROOT / "simulators" / f"{module}.py").is_file(), f"simulators/{module}.py is missing"
    assert (ROOT / "tests" / "drivers" / f"test_{name}.py").is_file(), f"tests/drivers/test_{name}.py is missing"
    simulator = importlib.import_module(f"simulators.{module}")
    for entry in ("add_arguments", "main_async"):
        assert callable(getattr(simulator, entry, None)), f"simulators.{name}.{entry} is missing"


@pytest.mark.parametrize("name", sorted(DRIVERS))
def test_driver_matches_its_brand(name):
    driver = DRIVERS[name]
    brand = BRANDS[driver.brand]
    assert brand.driver == name
    assert brand.credential_kind == driver.credential_kind
    assert brand.default_port == driver.default_port
    if driver.transport is Transport.TCP:
        assert driver.codec_factory is not None and driver.state_from_record is not None
    assert models_of_brand(brand.name), f"no {brand.name} model in the catalog"


def test_every_model_command_is_encodable():
    for name, driver in DRIVERS.items():
        for model in models_of_brand(driver.brand):
            for capability in model.commands:
                request = driver.encode_command(capability, model.options, "pw")
                assert request.text, f"{model.id}: {capability} encodes to nothing"

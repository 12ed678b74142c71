from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelrollout.api.v1alpha1 import Resources
from modelrollout.pools import pricing, profiles
from modelrollout.settings import OperatorSettings

CPU = profiles.defaults()["cpu"]
GPU = profiles.defaults()["nvidia-gpu"]


def cpu_pool(node_hour: float, node_cpus: float | None) -> profiles.Profile:
    return CPU.model_copy(update={"price": profiles.Price(nodeHour=node_hour, nodeCPUs=node_cpus)})


@pytest.mark.parametrize(("quantity", "cores"), [("500m", 0.5), ("2", 2.0), ("1.5", 1.5), ("", None), ("x", None)])
def test_cpus(quantity: str, cores: float | None) -> None:
    assert pricing.cpus(quantity) == cores


def test_a_cpu_replica_pays_its_share_of_the_node() -> None:
    pool = cpu_pool(0.40, 8)
    assert pricing.per_replica_hour(pool, Resources(requests={"cpu": "2"})) == pytest.approx(0.10)
    assert pricing.per_replica_hour(pool, Resources(limits={"cpu": "16"})) == pytest.approx(0.40)  # capped
    # Asking for no CPU, a replica may be all the node runs: it pays the node.
    assert pricing.per_replica_hour(pool, Resources()) == pytest.approx(0.40)


def test_an_accelerator_replica_pays_its_accelerator_and_its_host_share() -> None:
    assert pricing.per_replica_hour(GPU, Resources(requests={"cpu": "1"})) == pytest.approx(0.55 + 0.20 / 4)
    eight = GPU.model_copy(update={"price": profiles.Price(nodeHour=8.0, acceleratorHour=2.0, acceleratorsPerNode=8)})
    assert pricing.per_replica_hour(eight) == pytest.approx(2.0 + 1.0)


def test_no_price_no_cost() -> None:
    assert pricing.per_replica_hour(CPU.model_copy(update={"price": None})) is None
    assert pricing.per_replica_hour(CPU.model_copy(update={"price": profiles.Price()})) is None


@given(node_hour=st.floats(0.01, 100), node_cpus=st.floats(1, 256), asked=st.floats(0.001, 512), more=st.floats(0, 64))
def test_asking_for_more_cpu_never_costs_less_nor_more_than_the_node(
    node_hour: float, node_cpus: float, asked: float, more: float
) -> None:
    pool = cpu_pool(node_hour, node_cpus)
    small = pricing.per_replica_hour(pool, Resources(requests={"cpu": f"{asked}"}))
    large = pricing.per_replica_hour(pool, Resources(requests={"cpu": f"{asked + more}"}))
    assert small is not None and large is not None
    assert 0 < small <= large <= node_hour * (1 + 1e-12)


def test_operator_configuration_overrides_a_price_and_keeps_the_rest() -> None:
    settings = OperatorSettings.model_validate({"prices": {"cpu": {"nodeHour": 1.0, "nodeCPUs": 2}}})
    pool = settings.profiles()["cpu"]
    assert pool.price == profiles.Price(nodeHour=1.0, nodeCPUs=2)
    assert pool.node_selector == CPU.node_selector  # how to land on the pool is untouched


def test_a_price_for_an_unknown_pool_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="prices: no node pool profile 'tpu'"):
        OperatorSettings.model_validate({"prices": {"tpu": {"nodeHour": 1.0}}})


def test_every_default_pool_has_a_price() -> None:
    assert all(p.price is not None and p.price.node_hour for p in profiles.defaults().values())

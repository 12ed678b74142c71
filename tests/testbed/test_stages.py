from __future__ import annotations

import yaml

from e2e.testbed import stages
from modelrollout import names


def test_shipped_stages_cover_node_and_pod_lifecycle() -> None:
    loaded = stages.load_stages()
    assert [s["metadata"]["name"] for s in loaded] == [
        "node-initialize",
        "node-heartbeat-with-lease",
        "pod-ready",
        "pod-complete",
        "pod-delete",
    ]


def test_without_process_pods_the_stages_are_kwoks_own() -> None:
    loaded = stages.load_stages()
    assert stages.compose(loaded, skip_process_pods=False) == loaded


def test_process_pods_are_excluded_from_pod_stages_only() -> None:
    loaded = stages.load_stages()
    composed = stages.compose(loaded, skip_process_pods=True)
    for before, after in zip(loaded, composed, strict=True):
        expressions = after["spec"]["selector"]["matchExpressions"]
        if after["spec"]["resourceRef"]["kind"] == "Pod":
            assert expressions[:-1] == before["spec"]["selector"]["matchExpressions"]
            assert expressions[-1] == {
                "key": stages.process_pod_query(),
                "operator": "NotIn",
                "values": ["true"],
            }
        else:
            assert after == before
    # The input is not changed in place.
    assert loaded == stages.load_stages()


def test_query_names_the_shared_labels_and_components() -> None:
    query = stages.process_pod_query()
    for text in (
        names.LABEL_MANAGED_BY,
        names.LABEL_COMPONENT,
        names.COMPONENT_SERVER,
        names.COMPONENT_OPTIMIZER,
        names.MANAGER,
    ):
        assert text in query


def test_render_round_trips() -> None:
    composed = stages.compose(stages.load_stages(), skip_process_pods=True)
    assert list(yaml.safe_load_all(stages.render(composed))) == composed

"""Planning over class x group cells, or over classes only: synaug.engine.planning.fit_plan."""

from synaug.data import load_dataset

from helpers import plan_for


def test_cell_planning_over_groups_and_classes_only():
    s = load_dataset("mnist-fair")
    items, meta = plan_for(s.train, dataset="mnist-fair")
    assert {r["final"] for r in meta["cells"]} == {900} and len(items) == 7200 - 2280
    assert {it.group_name for it in items} == {"red", "green", "blue", "yellow"}
    assert all(f"in {it.group_name} ink" in it.prompt for it in items)
    items_c, meta_c = plan_for(s.train, dataset="mnist-fair", use_groups=False)
    assert [r["add"] for r in meta_c["cells"]] == [0, 440] and all(it.group_name == "" for it in items_c)
    assert meta_c["unspecified_groups"] == ["red", "green", "blue", "yellow"]

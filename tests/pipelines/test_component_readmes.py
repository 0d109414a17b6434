"""The component READMEs' inputs/outputs tables match the wrappers' code."""

import inspect

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from kfp_mlops.pipelines.tooling import catalog, cli, readmes


@dsl.component
def toy(
    data: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    rate: float = 0.5,
    mode: str = "a|b",
    flag: bool = False,
) -> int:
    """Fit a toy.

    Args:
        data: Training rows;
            one per line.
        model: The fitted <model> directory.
        metrics: Loss and accuracy.
        rate (float): Learning rate.
        mode: Which mode.
        flag: Whether to.

    Returns:
        Rows used.
    """
    return 0


def test_every_component_readme_is_up_to_date():
    targets = readmes.readme_targets()
    # One README per component, beside its component.py.
    assert len(targets) == len(catalog.components())
    stale = readmes.stale_readmes(targets)
    assert not stale, (
        f"stale inputs/outputs tables in {[readmes.display(p) for p in stale]}; "
        f"run `{readmes.FIX_COMMAND}` and commit them"
    )


def test_every_argument_of_every_component_is_documented():
    assert readmes.undocumented() == []


def test_parse_docstring_joins_continuations_and_reads_returns():
    args, returns = readmes.parse_docstring(inspect.getdoc(toy.python_func))
    assert args["data"] == "Training rows; one per line."
    assert args["rate"] == "Learning rate."
    assert list(args) == ["data", "model", "metrics", "rate", "mode", "flag"]
    assert returns == "Rows used."
    assert readmes.parse_docstring(None) == ({}, "")


def test_rows_take_types_defaults_and_text_from_the_spec_and_docstring():
    rows = {(r.direction, r.name): r for r in readmes.rows(toy)}
    assert rows["in", "data"] == readmes.Row(
        "in", "data", "Dataset", "required", "Training rows; one per line."
    )
    assert rows["in", "rate"].type == "float" and rows["in", "rate"].default == "`0.5`"
    assert rows["in", "flag"].default == "`False`"
    assert rows["out", "model"].type == "Model"
    assert rows["out", "Output"] == readmes.Row("out", "Output", "int", "", "Rows used.")


def test_render_escapes_pipes_and_tags():
    section = readmes.render(toy)
    assert section.startswith(readmes.BEGIN) and section.endswith(readmes.END)
    assert "| in | `mode` | str | `'a\\|b'` | Which mode. |" in section
    assert "The fitted &lt;model> directory." in section
    assert readmes.render(toy) == section  # deterministic


def test_update_replaces_a_hand_table_then_only_the_marked_section():
    hand = (
        "# toy\n\nIntro.\n\n| | name | type | meaning |\n|---|---|---|---|\n"
        "| in | `data` | Dataset | old |\n\nMore prose.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    section = readmes.render(toy)
    once = readmes.update_text(hand, section)
    assert "old" not in once and section in once
    assert once.startswith("# toy\n\nIntro.\n\n") and "More prose.\n\n| a | b |" in once
    assert readmes.update_text(once, section) == once
    edited = once.replace("More prose.", "Edited prose.")
    assert readmes.update_text(edited, "NEW").count("NEW") == 1
    assert "Edited prose." in readmes.update_text(edited, "NEW")


def test_update_inserts_after_the_first_paragraph_or_creates_the_readme():
    section = readmes.render(toy)
    text = readmes.update_text("# toy\n\nIntro\nline two.\n\nUsage.\n", section)
    assert text == f"# toy\n\nIntro\nline two.\n\n{section}\n\nUsage.\n"
    assert readmes.update_text("", section, title="toy") == f"# toy\n\n{section}\n"


def test_check_finds_a_stale_table_and_write_fixes_it(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("# toy\n\nIntro.\n", encoding="utf-8")
    targets = {path: toy}
    assert readmes.stale_readmes(targets) == [path]
    assert readmes.write_readmes(targets) == [path]
    assert readmes.stale_readmes(targets) == []
    assert readmes.write_readmes(targets) == []
    # A hand edit inside the markers makes it stale again.
    path.write_text(path.read_text().replace("Rows used.", "Rows."), encoding="utf-8")
    assert readmes.stale_readmes(targets) == [path]


def test_cli_check_exits_1_naming_the_stale_files_and_the_fix(monkeypatch, tmp_path, capsys):
    stale = tmp_path / "README.md"
    monkeypatch.setattr(readmes, "stale_readmes", lambda: [stale])
    assert cli.main(["readmes", "--check"]) == 1
    out = capsys.readouterr().out
    assert str(stale) in out and "run `kfp-mlops readmes`" in out
    monkeypatch.setattr(readmes, "stale_readmes", lambda: [])
    assert cli.main(["readmes", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out

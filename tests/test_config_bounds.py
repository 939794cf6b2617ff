"""Bounded config loading: no alias expansion bombs, short quotes of bad values."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from builder.commands.cli import main


def dry_run(project: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["image", str(project), "--cuda", "12.1", "--dry-run"])
    return result.exit_code, result.output


def laughs(levels: int) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        refs = ",".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    lines.append(f"system_packages: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def test_yaml_aliases_are_refused_before_they_expand(tmp_path: Path) -> None:
    (tmp_path / "rpbuild.yaml").write_text(laughs(6))
    code, output = dry_run(tmp_path)
    assert code == 2, output[:500]
    assert "alias" in output
    assert len(output) < 2000


def test_a_single_alias_is_refused_too(tmp_path: Path) -> None:
    (tmp_path / "rpbuild.yaml").write_text('cuda: &c "12.1"\nbase_image: *c\n')
    code, output = dry_run(tmp_path)
    assert code == 2
    assert "alias" in output and "line 2" in output


def test_a_bad_value_is_quoted_by_a_short_prefix(tmp_path: Path) -> None:
    long_value = "3.11" + "X" * 100_000
    (tmp_path / "rpbuild.yaml").write_text(f'python: "{long_value}"\nrepository: "{long_value}"\n')
    code, output = dry_run(tmp_path)
    assert code == 2
    assert "python" in output and "repository" in output
    assert "3.11XXXX" in output
    assert len(output) < 1500


def test_a_bad_flag_value_is_quoted_by_a_short_prefix(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text("print('hi')\n")
    long_value = "ghcr.io/x/" + "Y" * 100_000
    result = CliRunner().invoke(
        main, ["image", str(tmp_path), "--cuda", "12.1", "--repository", long_value, "--dry-run"]
    )
    assert result.exit_code == 2
    assert "--repository" in result.output
    assert len(result.output) < 1500


def test_a_matrix_file_with_aliases_is_refused(tmp_path: Path) -> None:
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(laughs(6).replace("system_packages:", "images:"))
    result = CliRunner().invoke(main, ["matrix", "list", "--matrix-file", str(matrix)])
    assert result.exit_code == 2, result.output[:500]
    assert "alias" in result.output
    assert len(result.output) < 2000

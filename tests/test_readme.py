"""README.md opens with the two commands a newcomer runs; CI must run the second one verbatim."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The shell lines of README's first code block."""
    text = (ROOT / "README.md").read_text()
    block = text.split("```")[1]
    return [line.strip() for line in block.splitlines()[1:] if line.strip() and not line.strip().startswith("#")]


def test_readme_opens_with_install_train_and_install_test():
    train, test = readme_commands()
    assert "pip install" in train and train.endswith("tinyalex train")
    assert "pip install" in test and "pytest" in test


def test_ci_runs_readme_test_command_verbatim():
    _, test = readme_commands()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test in ci_lines


def test_the_line_count_of_the_core_is_the_one_stated():
    import re

    files = [*sorted((ROOT / "tinyalex" / "engine").glob("*.py")), *sorted((ROOT / "tinyalex" / "ops").glob("*.py")),
             *sorted((ROOT / "tinyalex" / "layers").glob("*.py")), ROOT / "tinyalex" / "gradcheck.py"]
    lines = sum(len(f.read_text().splitlines()) for f in files)
    stated = re.search(r"gradient checker together are ([\d,]+) lines", (ROOT / "README.md").read_text().replace("\n", " "))
    assert stated and int(stated.group(1).replace(",", "")) == lines

"""The files of ``sitefx design`` and the report section read from them.

``sitefx design DIR`` (:func:`sitefx.design.assurance.write_design`) writes these files into
a fit's folder; ``sitefx report DIR`` then adds a section on the design of the next trial:
what the designs' assurance and power are in plain words (kept in ``design.json`` with the
settings they were computed with), the table and the assurance curves.
"""

import json
from pathlib import Path

FILES = {"table": "design.csv", "figure": "assurance.png", "settings": "design.json"}


def describe_design(out_dir: str | Path) -> list[str]:
    """Return what the designs in ``out_dir`` achieve, in plain words.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        A folder written by ``sitefx design``.

    Returns
    -------
    list of str
        The sentences of :func:`sitefx.design.assurance.design_sentences`, kept in
        ``design.json``; empty without the file.

    Examples
    --------
    >>> describe_design("studies/teacher_expectancy")
    []
    """
    path = Path(out_dir) / FILES["settings"]
    if not path.is_file():
        return []
    return json.loads(path.read_text(encoding="utf-8"))["sentences"]

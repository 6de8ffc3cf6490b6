"""The one error table: typed codes (a misspelt code is a mypy error) and the drop column."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

from mypy import api as mypy_api

from countersign.errors import DROP_CODES, ERRORS, ApiError, ErrorCode


def test_error_code_names_exactly_the_rows_of_the_table() -> None:
    assert list(get_args(ErrorCode)) == list(ERRORS)


def test_is_a_drop_is_the_tables_column() -> None:
    for code, answer in ERRORS.items():
        assert ApiError(code).is_drop is answer.drop
    assert {code for code, answer in ERRORS.items() if answer.drop} == DROP_CODES
    assert not ApiError("service_unavailable").is_drop and ApiError("invalid_signature").is_drop


def test_a_misspelt_code_is_a_type_error(tmp_path: Path) -> None:
    snippet = tmp_path / "uses_codes.py"
    snippet.write_text(
        'from countersign.errors import ApiError\nApiError("invalid_signature")\nApiError("invalid_signatrue")\n'
    )
    cache = tmp_path / "cache"
    out, _, status = mypy_api.run(["--strict", "--no-incremental", "--cache-dir", str(cache), str(snippet)])
    assert status == 1, out
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert len(errors) == 1, out
    assert "uses_codes.py:3:" in errors[0] and "invalid_signatrue" in errors[0]

"""Validate a manifest with great-expectations and render its Data Docs.

A paper gives its suite as (Expectation class name, kwargs) pairs; `validate_manifest` runs it on the manifest
DataFrame in an ephemeral GE context, writes the Data Docs HTML into a fixed directory, and returns a report. Failing
expectations are described with the files of the offending rows, so the caller can stop with one line that names a
file and the expectation it broke.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class Failure:
    """One failed expectation: its name, the column it checked, and the offending rows' files (first ones)."""

    expectation: str
    column: str | None
    unexpected_count: int
    files: list[str]

    def describe(self) -> str:
        where = self.files[0] if self.files else "<table>"
        more = f" (+{self.unexpected_count - 1} more rows)" if self.unexpected_count > 1 else ""
        target = f"({self.column})" if self.column else ""
        return f"{where}: failed {self.expectation}{target}{more}"


@dataclass
class ValidationReport:
    """Outcome of a suite: overall success, counts, failures, and where the Data Docs are."""

    success: bool
    evaluated: int
    failures: list[Failure] = field(default_factory=list)
    docs_index: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "evaluated_expectations": self.evaluated,
            "failed_expectations": len(self.failures),
            "failures": [f.describe() for f in self.failures],
        }


def validate_manifest(
    manifest: pd.DataFrame,
    suite: list[tuple[str, dict[str, Any]]],
    *,
    suite_name: str,
    docs_dir: Path,
    file_column: str = "path",
    file_root: Path | None = None,
) -> ValidationReport:
    """Run `suite` on `manifest`; write Data Docs under `docs_dir` (replaced); return the report.

    Args:
        manifest: one row per sample; `file_column` names each row's file (relative to `file_root`).
        suite: [(great_expectations.expectations class name, kwargs), ...].
        suite_name: the suite's name in the Data Docs.
        docs_dir: the Data Docs site directory (index.html at its top).
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    shutil.rmtree(docs_dir, ignore_errors=True)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.add_data_docs_site(
        site_name="reprozoo",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir.resolve())},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    batch = context.data_sources.add_pandas("manifest").add_dataframe_asset(name="manifest").add_batch_definition_whole_dataframe("all")
    expectation_suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
    for name, kwargs in suite:
        expectation_suite.add_expectation(getattr(gx.expectations, name)(**kwargs))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=suite_name, data=batch, suite=expectation_suite))
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"{suite_name}-checkpoint",
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=["reprozoo"])],
            result_format={"result_format": "COMPLETE", "partial_unexpected_count": 5},
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": manifest})
    failures: list[Failure] = []
    evaluated = 0
    for run in result.run_results.values():
        for item in run.results:
            evaluated += 1
            if item.success:
                continue
            indices = (item.result or {}).get("unexpected_index_list") or []
            files = [str((file_root / manifest.at[i, file_column]) if file_root else manifest.at[i, file_column]) for i in indices[:5]]
            count = int((item.result or {}).get("unexpected_count") or max(len(indices), 1))
            failures.append(Failure(item.expectation_config.type, item.expectation_config.kwargs.get("column"), count, files))
    index = docs_dir / "index.html"
    return ValidationReport(bool(result.success), evaluated, failures, index if index.is_file() else None)

"""Issue 30: churn labels as documented (docs/config.md: 0/1, true/false, yes/no; also y/n, any
case, 1.0/0.0) in the label column and in outcomes files; anything else refused naming rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnlens.config import Config
from churnlens.errors import DataError
from churnlens.evaluation.backtest import read_outcomes
from churnlens.io.tables import check_columns, parse_labels

CFG = Config.model_validate({"id_column": "customer_id", "label_column": "churn"})
TRUTH = [1, 0, 1, 0, 1, 0]
SPELLINGS = {
    "ints": [1, 0, 1, 0, 1, 0],
    "floats": [1.0, 0.0, 1.0, 0.0, 1.0, 0.0],
    "float text": ["1.0", "0.0", "1", "0", " 1 ", "0"],
    "bools": [True, False, True, False, True, False],
    "true/false": ["true", "FALSE", "True", "false", "TRUE", "False"],
    "yes/no": ["yes", "no", "YES", "No", "Yes", "NO"],
    "y/n": ["y", "n", "Y", "N", "y", "n"],
}


@pytest.mark.parametrize("name", sorted(SPELLINGS))
def test_documented_spellings_are_read_as_0_1(name):
    frame = pd.DataFrame({"customer_id": [f"C{i}" for i in range(6)], "churn": SPELLINGS[name]})
    check_columns(frame, CFG, source="t.csv")
    assert frame["churn"].tolist() == TRUTH
    assert pd.api.types.is_integer_dtype(frame["churn"])


def test_anything_else_is_refused_naming_the_rows():
    frame = pd.DataFrame({"customer_id": ["C1", "C2", "C3", "C4"], "churn": ["yes", "maybe", "2", None]})
    with pytest.raises(DataError) as err:
        check_columns(frame, CFG, source="t.csv")
    msg = str(err.value)
    assert "3 other value(s)" in msg and "row 2 ('maybe')" in msg and "row 3 ('2')" in msg and "row 4" in msg
    for bad in ([1, 2, 0], [1.0, 0.5, 0.0], [1, None, 0]):
        _, mask = parse_labels(pd.Series(bad))
        assert mask.tolist() == [False, True, False]


def test_a_yes_no_book_runs_through_validate(tmp_path):
    from churnlens.run.tasks import validate_inputs
    from tests.stack_inputs import book, lgb_model

    frame = book(300)
    lgb_model(frame).save_model(tmp_path / "model.txt")
    truth = frame.churned.copy()
    frame["churned"] = np.where(truth == 1, "Yes", "No")
    frame.to_csv(tmp_path / "customers.csv", index=False)
    (tmp_path / "config.yaml").write_text("id_column: customer_id\nlabel_column: churned\n", encoding="utf-8")
    assert validate_inputs(tmp_path / "model.txt", tmp_path / "customers.csv", tmp_path / "config.yaml").startswith("OK")
    import churnlens

    run = churnlens.run(tmp_path / "model.txt", tmp_path / "customers.csv", tmp_path / "config.yaml")
    assert run.quality is not None and run.quality.n_churners == int(truth.sum())


def test_outcomes_files_take_the_same_words(tmp_path):
    p = tmp_path / "outcomes.csv"
    p.write_text("customer_id,churned\nC1,yes\nC2,No\nC3,1.0\nC4,false\n", encoding="utf-8")
    assert read_outcomes(p)["churned"].tolist() == [1, 0, 1, 0]
    p.write_text("customer_id,churned\nC1,yes\nC2,unknown\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"must hold 0 \(stayed\) or 1 \(churned\).*row 2 \('unknown'\)"):
        read_outcomes(p)

"""The :class:`Formula`: one definition, checked when built, evaluated by two engines."""

from __future__ import annotations

import keyword
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any, overload

import numpy as np
import pandas as pd

from crmkit.core import (
    FormulaError,
    FrameError,
    MissingColumnError,
    Problem,
    ValidationError,
    check_frame,
    did_you_mean,
)
from crmkit.expr._check import NameType, check, normalize_schema
from crmkit.expr._columnar import compile_columnar, read_column, to_masked, to_series
from crmkit.expr._functions import DEFAULT_FUNCTIONS, FunctionRegistry
from crmkit.expr._nodes import NUMBER, Node, Value, transform, unparse
from crmkit.expr._parse import parse, sorted_problems
from crmkit.expr._scalar import compile_scalar, fold, make_reader
from crmkit.expr._tables import Table, table_problems

__all__ = ["Formula"]

SchemaSpec = Mapping[str, object] | Iterable[str]
TableSpec = Mapping[str, Table | Mapping[Any, Any]]


class Formula:
    """A formula of the safe formula language, checked when built, with two evaluators.

    The text is parsed (never executed) and checked against the schema, the
    tables and the functions: every problem is reported at once in a
    :class:`FormulaError`, each with its position and a caret. The checked
    formula is compiled to a scalar evaluator (closures over one mapping of
    values) and a columnar one (numpy over whole columns); both give the same
    result for every input, nulls included. See the formula language
    reference for the grammar, the functions and the null rules.

    Args:
        text: the formula, e.g. ``"total_spend + 50 * monthly_frequency"``.
        schema: the names the formula may use: a mapping name -> type
            (``"number"``, ``"bool"``, ``"string"``, ``float``/``int``/
            ``bool``/``str``, a str ``Enum`` class or a set of strings for a
            string with known values), or an iterable of names (all numbers).
            Without a schema any name is accepted, its type is inferred from
            its use (a number when nothing says otherwise), and a missing name
            is an error at evaluation.
        tables: lookup tables by name: :class:`Table` objects, or plain
            mappings of keys to values (no default).
        functions: the functions the formula may call (the built-ins by
            default; see :meth:`FunctionRegistry.extend`).

    Raises:
        FormulaError: the formula, the schema or the tables have problems.
        ValidationError: *text* is not a string or *functions* is not a registry.

    >>> f = Formula("total_spend + 50 * monthly_frequency")
    >>> f.evaluate({"total_spend": 120.0, "monthly_frequency": 2.0})
    220.0
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"total_spend": [120.0, None], "monthly_frequency": [2, 1]})
    >>> f.evaluate(frame)
    0    220.0
    1      NaN
    dtype: float64
    >>> sorted(f.names), f.result_type
    (['monthly_frequency', 'total_spend'], 'number')
    """

    __slots__ = (
        "_columnar",
        "_functions",
        "_hash",
        "_input_types",
        "_key",
        "_read",
        "_scalar",
        "_schema",
        "_tables",
        "_text",
        "_tree",
        "_type",
    )

    def __init__(
        self,
        text: str,
        *,
        schema: SchemaSpec | None = None,
        tables: TableSpec | None = None,
        functions: FunctionRegistry = DEFAULT_FUNCTIONS,
    ) -> None:
        if not isinstance(text, str):
            raise ValidationError("text", expected="the formula as a str", got=text)
        if not isinstance(functions, FunctionRegistry):
            raise ValidationError(
                "functions",
                expected="a FunctionRegistry (e.g. DEFAULT_FUNCTIONS.extend(...))",
                got=functions,
            )
        problems: list[Problem] = []
        broken: set[str] = set()
        declared: dict[str, NameType] | None = None
        if schema is not None:
            declared, found = normalize_schema(schema)
            problems += found
            if isinstance(schema, Mapping):
                broken.update(str(k) for k in schema if k not in declared)
        normal_tables = _tables(tables, problems, broken)
        try:
            raw = parse(text)
        except FormulaError as err:
            raise FormulaError(problems + list(err.problems), text=text) from None
        checked, found = check(
            raw,
            text,
            schema=declared,
            tables=normal_tables,
            functions=functions,
            broken=frozenset(broken),
        )
        problems += found
        if problems or checked is None:
            raise FormulaError(sorted_problems(problems), text=text)

        self._text = text
        self._schema = (
            None
            if declared is None
            else types.MappingProxyType(
                {k: (v.values if v.values is not None else v.type) for k, v in declared.items()}
            )
        )
        self._tables = types.MappingProxyType(
            dict(normal_tables)
        )  # read-only: a formula is a value
        self._functions = functions
        self._tree = checked.tree
        self._type = checked.tree.type
        self._input_types = types.MappingProxyType(checked.input_types)
        self._key = (
            text,
            None if self._schema is None else frozenset(self._schema.items()),
            frozenset(normal_tables.items()),
            functions,
        )
        self._hash: int | None = None

        folded = fold(self._tree, normal_tables, functions)
        slots = {name: i for i, name in enumerate(checked.input_types)}
        self._read = make_reader(checked.input_types)
        self._scalar = compile_scalar(folded, slots, normal_tables, functions)
        self._columnar = compile_columnar(folded, slots, normal_tables, functions)

    # ------------------------------------------------------------ properties

    @property
    def text(self) -> str:
        """The formula text, as given."""
        return self._text

    @property
    def tree(self) -> Node:
        """The typed internal form (see :func:`walk`, :func:`transform`)."""
        return self._tree

    @property
    def names(self) -> frozenset[str]:
        """The input names the formula reads.

        >>> sorted(Formula("a + b * a").names)
        ['a', 'b']
        """
        return frozenset(self._input_types)

    @property
    def input_types(self) -> Mapping[str, str]:
        """The type of each input name, declared or inferred, in order of first use.

        >>> dict(Formula("rate[method] * amount", tables={"rate": {"cash": 1.0}}).input_types)
        {'method': 'string', 'amount': 'number'}
        """
        return self._input_types

    @property
    def result_type(self) -> str:
        """``"number"``, ``"bool"`` or ``"string"``.

        >>> Formula("x > 1 and not y").result_type
        'bool'
        """
        return self._type

    @property
    def schema(self) -> Mapping[str, str | frozenset[str]] | None:
        """The schema as given, normalised: name -> type, or the set of values of a string.

        >>> Formula("a", schema=["a"]).schema
        mappingproxy({'a': 'number'})
        """
        return self._schema

    @property
    def tables(self) -> Mapping[str, Table]:
        """The tables, as :class:`Table` objects."""
        return self._tables

    @property
    def functions(self) -> FunctionRegistry:
        """The functions the formula may call."""
        return self._functions

    @property
    def canonical(self) -> str:
        """The formula in canonical form: the same tree, written with minimal parentheses.

        >>> Formula("((a+b))*c").canonical
        '(a + b) * c'
        """
        return unparse(self._tree)

    # ------------------------------------------------------------ evaluation

    @overload
    def evaluate(self, data: pd.DataFrame) -> pd.Series[Any]: ...

    @overload
    def evaluate(self, data: Mapping[str, Any] | pd.Series[Any]) -> Value: ...

    def evaluate(self, data: Mapping[str, Any] | pd.DataFrame | pd.Series[Any]) -> Any:
        """Evaluate on one mapping of values, or on every row of a DataFrame.

        Args:
            data: a mapping name -> value (a dict, or a row such as
                ``frame.iloc[0]``), or a DataFrame with a column per name.

        Returns:
            For a mapping: a ``float``, ``bool`` or ``str``, or ``None`` for
            null. For a DataFrame: a Series aligned to its index, of dtype
            ``float64`` (NaN is null), ``boolean`` (nullable) or pandas'
            string dtype.

        Raises:
            ValidationError: a value is missing from the mapping or has the
                wrong type.
            MissingColumnError: a column is missing from the frame.
            FrameError: a column cannot be read as the type the formula needs.

        >>> f = Formula("spend / visits if visits > 0 else 0")
        >>> f.evaluate({"spend": 90, "visits": 3})
        30.0
        >>> f.evaluate({"spend": 90, "visits": None}) is None
        False
        >>> f.evaluate({"spend": None, "visits": 3}) is None
        True
        """
        if type(data) is dict:
            return self._evaluate_mapping(data)
        if isinstance(data, pd.DataFrame):
            return self._evaluate_frame(data)
        if type(data).__module__.partition(".")[0] in ("polars", "pyarrow"):
            return self._evaluate_frame(check_frame(data, "data", []))
        if isinstance(data, Mapping | pd.Series):
            return self._evaluate_mapping(data)
        raise ValidationError(
            "data",
            expected="a mapping of names to values, or a pandas DataFrame",
            got=type(data).__name__,
            hint="use evaluate_arrays() for a dict of numpy arrays",
        )

    def _evaluate_mapping(self, data: Mapping[str, Any] | pd.Series[Any]) -> Value:
        try:
            env = self._read(data)
        except KeyError:
            raise self._missing(data) from None
        result = self._scalar(env)
        if self._type == NUMBER and result != result:
            return None
        return result  # type: ignore[no-any-return]

    def _missing(self, data: Mapping[str, Any] | pd.Series[Any]) -> ValidationError:
        keys = [str(k) for k in data.keys()]  # noqa: SIM118 - a Series is not iterable by key
        missing = [n for n in self._input_types if n not in keys]
        hints = [h for m in missing if (h := did_you_mean(m, keys))]
        return ValidationError(
            "data",
            expected="a value for " + ", ".join(repr(m) for m in missing),
            got=keys,
            hint="; ".join(hints) or f"the formula reads {', '.join(sorted(self._input_types))}",
        )

    def _evaluate_frame(self, frame: pd.DataFrame) -> pd.Series[Any]:
        missing = [n for n in self._input_types if n not in frame.columns]
        if missing:
            raise MissingColumnError(missing, [str(c) for c in frame.columns])
        env = []
        for name, type_ in self._input_types.items():
            column: Any = frame[name]
            if isinstance(column, pd.DataFrame):
                raise FrameError(
                    f"column {name!r} appears more than once", column=name, hint="rename one"
                )
            env.append(read_column(column, type_, name))
        n = len(frame)
        with np.errstate(all="ignore"):
            result = self._columnar(env, n)
        return to_series(result, self._type, n, frame.index)

    def evaluate_arrays(
        self, columns: Mapping[str, Any], *, size: int | None = None
    ) -> np.ma.MaskedArray[Any, Any]:
        """Evaluate over a mapping of one-dimensional arrays: the columnar kernel, without pandas frames.

        Args:
            columns: name -> array (numpy arrays, numpy masked arrays, pandas
                arrays or Series, or lists). Nulls are NaN, ``None``,
                ``pd.NA`` or masked entries.
            size: the number of rows; needed only when the formula reads no
                column at all.

        Returns:
            A masked array, masked where the result is null: ``float64``,
            ``bool``, or ``object`` holding ``str``.

        Raises:
            MissingColumnError: a column is missing.
            FrameError: a column cannot be read, or the lengths differ.
            ValidationError: *columns* is not a mapping, or *size* is needed.

        >>> import numpy as np
        >>> f = Formula("sqrt(x) if x > 0 else -1")   # a null condition takes the else branch
        >>> f.evaluate_arrays({"x": np.array([4.0, 0.0, np.nan])})
        masked_array(data=[2.0, -1.0, -1.0],
                     mask=[False, False, False],
               fill_value=1e+20)
        >>> Formula("sqrt(x)").evaluate_arrays({"x": np.array([4.0, np.nan])})
        masked_array(data=[2.0, --],
                     mask=[False,  True],
               fill_value=1e+20)
        """
        if not isinstance(columns, Mapping):
            raise ValidationError(
                "columns", expected="a mapping of names to arrays", got=type(columns).__name__
            )
        missing = [n for n in self._input_types if n not in columns]
        if missing:
            raise MissingColumnError(missing, [str(c) for c in columns])
        env = []
        lengths: dict[str, int] = {}
        for name, type_ in self._input_types.items():
            data = columns[name]
            if np.ndim(data) != 1:
                raise FrameError(
                    f"column {name!r} is not one-dimensional",
                    column=name,
                    expected="a one-dimensional array",
                    got=f"{np.ndim(data)} dimensions",
                )
            env.append(read_column(data, type_, name))
            lengths[name] = len(data)
        n = _common_length(lengths, size, columns)
        with np.errstate(all="ignore"):
            result = self._columnar(env, n)
        return to_masked(result, self._type, n)

    # ------------------------------------------------------------ rewriting

    def transform(self, fn: Callable[[Node], Node]) -> Formula:
        """Return the formula whose tree is ``transform(self.tree, fn)``, checked anew.

        The new formula's text is the canonical text of the new tree; it has
        the same schema, tables and functions.

        >>> from crmkit.expr import Const, Name
        >>> f = Formula("spend > threshold")
        >>> f.transform(lambda n: Const(250.0) if isinstance(n, Name) and n.name == "threshold" else n)
        Formula('spend > 250')
        """
        return Formula(
            unparse(transform(self._tree, fn)),
            schema=self._schema,
            tables=self._tables,
            functions=self._functions,
        )

    # ------------------------------------------------------------ identity

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Formula):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self._key)
        return self._hash

    def __repr__(self) -> str:
        parts = [repr(self._text)]
        if self._schema is not None:
            parts.append(f"schema={dict(self._schema)!r}")
        if self._tables:
            parts.append(f"tables={dict(self._tables)!r}")
        if self._functions != DEFAULT_FUNCTIONS:
            parts.append(f"functions={self._functions!r}")
        return f"Formula({', '.join(parts)})"

    def __str__(self) -> str:
        return self._text

    def __reduce__(self) -> tuple[Any, ...]:
        # Closures do not pickle: store the definition and compile again on load.
        functions = None if self._functions == DEFAULT_FUNCTIONS else self._functions
        schema = None if self._schema is None else dict(self._schema)
        return (_restore, (self._text, schema, dict(self._tables), functions))


def _restore(
    text: str,
    schema: Mapping[str, object] | None,
    tables: Mapping[str, Table],
    functions: FunctionRegistry | None,
) -> Formula:
    return Formula(text, schema=schema, tables=tables, functions=functions or DEFAULT_FUNCTIONS)


def _tables(tables: object, problems: list[Problem], broken: set[str]) -> dict[str, Table]:
    if tables is None:
        return {}
    if not isinstance(tables, Mapping):
        problems.append(
            Problem(where="tables", message="tables must be a mapping of names to tables")
        )
        return {}
    result: dict[str, Table] = {}
    for name, spec in tables.items():
        where = f"tables[{name!r}]"
        if (
            not isinstance(name, str)
            or not name.isidentifier()
            or keyword.iskeyword(name)
            or name.startswith("__")
        ):
            problems.append(
                Problem(
                    where=where, message="a table name must be an identifier not starting with '__'"
                )
            )
            continue
        table, found = table_problems(spec, None, where=where)
        problems += found
        if table is None:
            broken.add(name)
        else:
            result[name] = table
    return result


def _common_length(lengths: dict[str, int], size: int | None, columns: Mapping[str, Any]) -> int:
    distinct = set(lengths.values())
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValidationError("size", expected="a row count >= 0", got=size)
        distinct.add(size)
    if len(distinct) > 1:
        shown = ", ".join(f"{k}: {v}" for k, v in lengths.items())
        raise FrameError(
            "columns have different lengths",
            expected="arrays of one length" + (f" ({size})" if size is not None else ""),
            got=shown,
        )
    if distinct:
        return distinct.pop()
    for value in columns.values():
        if np.ndim(value) == 1:
            return len(value)
    raise ValidationError(
        "size",
        expected="the number of rows, since the formula reads no column",
        got=None,
    )


Formula.__module__ = "crmkit.expr"
